//! What the process tells its operators: logs and metrics.
//!
//! Owns the log output format (text for terminals, JSON lines for
//! collectors) and the level filter (`RUST_LOG` wins over
//! `telemetry.level`), and, in [`metrics`], every Prometheus metric. Logs go
//! to stderr so that stdout stays for command output such as `status`.
//! Nothing secret may be logged: tokens are `SecretString`s and never formatted.

pub mod metrics;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetrySettings};

pub fn init(settings: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (e.g. several commands in one test process) is harmless.
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
