//! The deployment files under `deploy/`, checked with the real validators and
//! the program's own configuration loader:
//! - the systemd unit with `systemd-analyze verify` and `security` (Debian's
//!   `systemd` package);
//! - the Kubernetes manifests against the Kubernetes JSON schemas with
//!   `kubernetes-validate` (PyPI; bundles the schemas, works offline), whose
//!   PyYAML also reads the manifests for the cross-checks here;
//! - the example configurations (systemd's, the ConfigMap's) loaded by
//!   `Settings::load_from` with the environment the unit or the Deployment
//!   gives them;
//! - the Containerfile's build context, with `cargo fetch --locked`.
//!
//! A missing validator fails its test with the command that installs it:
//! nothing here skips.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use retino_sync::config::Settings;
use serde_json::Value;

const INSTALL_SYSTEMD: &str = "apt-get update && apt-get install -y systemd";
const INSTALL_KUBERNETES_VALIDATE: &str = "pip install kubernetes-validate";
/// The oldest Kubernetes the manifests target; they are also checked
/// against the newest schemas kubernetes-validate bundles.
const OLDEST_KUBERNETES: &str = "1.30.0";
/// `systemd-analyze security` exposure, times ten, above which the test
/// fails (the unit scores 16 on systemd 252; without CapabilityBoundingSet=
/// or SystemCallFilter= it scores 30 or more).
const MAX_EXPOSURE: &str = "20";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs a validator; a missing program fails the test with how to install it.
fn run(command: &mut Command, install: &str) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{program}` is not installed, and this test needs it (it does not skip). \
             Install it with: {install}"
        ),
        Err(e) => panic!("cannot run `{program}`: {e}"),
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// ---------------------------------------------------------------------------
// systemd

const UNIT: &str = "deploy/systemd/retino-sync.service";
const UNIT_NAME: &str = "retino-sync.service";

/// `(section, key, value)` of every assignment in a unit file.
fn unit_entries(unit: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            entries.push((section.clone(), key.trim().into(), value.trim().into()));
        }
    }
    entries
}

fn unit_values<'a>(entries: &'a [(String, String, String)], key: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(_, k, _)| k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// The unit with ExecStart pointing at the freshly built binary, since
/// `verify` checks that the binary exists; everything else as shipped.
fn unit_for_verify(unit: &str) -> String {
    let installed = "ExecStart=/usr/local/bin/retino-sync ";
    let built = env!("CARGO_BIN_EXE_retino-sync");
    assert!(
        !built.contains(char::is_whitespace),
        "the built binary's path {built:?} has whitespace, which ExecStart would split"
    );
    assert_eq!(
        unit.lines().filter(|l| l.starts_with(installed)).count(),
        1,
        "{UNIT} must have exactly one line starting with `{installed}`"
    );
    unit.replace(installed, &format!("ExecStart={built} "))
}

/// Writes `unit` as retino-sync.service into a new temporary directory.
fn unit_file(unit: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(UNIT_NAME);
    fs::write(&path, unit).unwrap();
    (dir, path)
}

/// `systemd-analyze verify`. It exits 0 for most mistakes (an unknown key,
/// a value it cannot parse: "..., ignoring."), so any diagnostic naming the
/// unit counts as a failure too. Lines about other units (dependencies
/// installed on the machine) are not ours to judge.
fn systemd_verify(unit: &str) -> Result<(), String> {
    let (_dir, path) = unit_file(unit);
    let output = run(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .env("SYSTEMD_PAGER", ""),
        INSTALL_SYSTEMD,
    );
    let all = text(&output);
    let ours: Vec<&str> = all.lines().filter(|l| l.contains(UNIT_NAME)).collect();
    if output.status.success() && ours.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "systemd-analyze verify {}: {}\n{all}",
            path.display(),
            output.status
        ))
    }
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let unit = unit_for_verify(&read(&repo(UNIT)));
    if let Err(e) = systemd_verify(&unit) {
        panic!("{e}");
    }
}

/// The verify check above would be worthless if a broken unit passed it.
#[test]
fn systemd_analyze_verify_catches_broken_units() {
    let good = unit_for_verify(&read(&repo(UNIT)));
    for (what, from, to) in [
        ("bad value", "ProtectSystem=strict", "ProtectSystem=strcit"),
        ("unknown key", "ProtectHome=yes", "ProtectHme=yes"),
        ("bad duration", "TimeoutStopSec=45s", "TimeoutStopSec=45x"),
        ("missing binary", "ExecStart=/", "ExecStart=/nonexistent/"),
    ] {
        assert!(good.contains(from), "{UNIT} no longer has `{from}`");
        let broken = good.replacen(from, to, 1);
        assert!(
            systemd_verify(&broken).is_err(),
            "systemd-analyze verify accepted a unit with a {what} (`{to}`)"
        );
    }
}

#[test]
fn systemd_unit_keeps_its_hardening() {
    let unit = read(&repo(UNIT));
    let entries = unit_entries(&unit);
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(
            unit_values(&entries, key),
            [value],
            "{UNIT}: expected exactly `{key}={value}`"
        );
    }

    // systemd's own score of the sandbox, as a coarse guard.
    let (_dir, path) = unit_file(&unit_for_verify(&unit));
    let output = run(
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("--threshold={MAX_EXPOSURE}"))
            .arg(&path),
        INSTALL_SYSTEMD,
    );
    assert!(
        output.status.success(),
        "systemd-analyze security rates {UNIT} above {MAX_EXPOSURE}:\n{}",
        text(&output)
    );
}

// ---------------------------------------------------------------------------
// Kubernetes

const KUBERNETES: &str = "deploy/kubernetes";
/// Not Kubernetes API objects known to the schemas: the Kustomize file and
/// the Prometheus Operator's CRD kind (cross-checked below instead).
const NOT_IN_SCHEMAS: [&str; 2] = ["kustomization.yaml", "servicemonitor.yaml"];

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo(KUBERNETES))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifest under {KUBERNETES}");
    files
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// Every YAML document of a file, as JSON, read by PyYAML (which
/// kubernetes-validate installs).
fn yaml(path: &Path) -> Vec<Value> {
    const SCRIPT: &str = "import json, sys, yaml\n\
        docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
        json.dump(docs, sys.stdout)";
    let output = run(
        Command::new("python3").args(["-c", SCRIPT]).arg(path),
        INSTALL_KUBERNETES_VALIDATE,
    );
    assert!(
        output.status.success(),
        "cannot read {} as YAML (PyYAML comes with `{INSTALL_KUBERNETES_VALIDATE}`):\n{}",
        path.display(),
        text(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One document of a file that must hold exactly one.
fn one(file: &str) -> Value {
    let docs = yaml(&repo(KUBERNETES).join(file));
    assert_eq!(docs.len(), 1, "{file}: expected one document");
    docs.into_iter().next().unwrap()
}

/// kubernetes-validate in strict mode (unknown fields are errors). It exits
/// 0 on a kind or apiVersion it has no schema for (a "WARN" line), so every
/// document must also have its own "passed" line, and no WARN, ERROR or
/// FATAL line may appear.
fn kubernetes_validate(files: &[PathBuf], version: Option<&str>) -> Result<(), String> {
    let mut command = Command::new("kubernetes-validate");
    command.arg("--strict");
    if let Some(version) = version {
        command.args(["--kubernetes-version", version]);
    }
    let output = run(command.args(files), INSTALL_KUBERNETES_VALIDATE);
    let all = text(&output);
    let documents: usize = files.iter().map(|f| yaml(f).len()).sum();
    let passed = all
        .lines()
        .filter(|l| l.starts_with("INFO ") && l.contains(" passed for resource "))
        .count();
    let complaints = all
        .lines()
        .any(|l| ["WARN", "ERROR", "FATAL"].iter().any(|w| l.starts_with(w)));
    if output.status.success() && passed == documents && !complaints {
        Ok(())
    } else {
        Err(format!(
            "kubernetes-validate ({} of {documents} documents passed, {}):\n{all}",
            passed, output.status
        ))
    }
}

#[test]
fn kubernetes_manifests_match_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = manifests()
        .into_iter()
        .filter(|p| !NOT_IN_SCHEMAS.contains(&file_name(p)))
        .collect();
    for version in [Some(OLDEST_KUBERNETES), None] {
        if let Err(e) = kubernetes_validate(&files, version) {
            panic!("against Kubernetes {}: {e}", version.unwrap_or("(newest)"));
        }
    }
}

/// The schema check above would be worthless if a broken manifest passed it.
#[test]
fn kubernetes_validate_catches_broken_manifests() {
    let deployment = read(&repo(KUBERNETES).join("deployment.yaml"));
    let dir = tempfile::tempdir().unwrap();
    for (what, from, to) in [
        ("string for an integer", "replicas: 2", "replicas: \"two\""),
        (
            "misspelt field",
            "terminationGracePeriodSeconds:",
            "terminationGracePeriodSecs:",
        ),
        (
            "unknown apiVersion",
            "apiVersion: apps/v1",
            "apiVersion: apps/v2",
        ),
    ] {
        assert!(
            deployment.contains(from),
            "deployment.yaml no longer has `{from}`"
        );
        let path = dir.path().join("deployment.yaml");
        fs::write(&path, deployment.replacen(from, to, 1)).unwrap();
        assert!(
            kubernetes_validate(&[path], Some(OLDEST_KUBERNETES)).is_err(),
            "kubernetes-validate accepted a Deployment with a {what} (`{to}`)"
        );
    }
}

#[test]
fn kustomization_lists_every_manifest_but_the_secret_example() {
    let kustomization = one("kustomization.yaml");
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_array()
        .expect("kustomization.yaml: resources")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let files = manifests();
    let expected: BTreeSet<&str> = files
        .iter()
        .map(|p| file_name(p))
        .filter(|f| !["kustomization.yaml", "secret.example.yaml"].contains(f))
        .collect();
    assert_eq!(listed, expected, "kustomization.yaml resources");

    let namespace = kustomization["namespace"].as_str().unwrap();
    assert_eq!(one("namespace.yaml")["metadata"]["name"], namespace);
    assert_eq!(
        one("secret.example.yaml")["metadata"]["namespace"],
        namespace,
        "the example Secret must land where the Deployment looks for it"
    );

    // kubectl's built-in Kustomize renders it, where kubectl is installed
    // (it is not in Debian's or PyPI's packages, so it cannot be required).
    match Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo(KUBERNETES))
        .output()
    {
        Ok(output) => {
            assert!(
                output.status.success(),
                "kubectl kustomize {KUBERNETES}:\n{}",
                text(&output)
            );
            let dir = tempfile::tempdir().unwrap();
            let rendered = dir.path().join("rendered.yaml");
            fs::write(&rendered, &output.stdout).unwrap();
            let docs = yaml(&rendered);
            assert_eq!(docs.len(), listed.len());
            for doc in docs.iter().filter(|d| d["kind"] != "Namespace") {
                assert_eq!(doc["metadata"]["namespace"], namespace, "{doc}");
            }
        }
        Err(e) => eprintln!("kubectl not available ({e}): `kubectl kustomize` not checked"),
    }
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a label selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| &labels[k] == v)
}

fn duration(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|item| item["name"] == name))
        .unwrap_or_else(|| panic!("no item named `{name}` in {list}"))
}

/// What the schemas cannot see: names and labels that must agree across
/// files, and the ConfigMap's config.toml as the program loads it with the
/// Deployment's environment.
#[test]
fn kubernetes_manifests_agree_with_each_other_and_the_program() {
    let deployment = one("deployment.yaml");
    let service = one("service.yaml");
    let monitor = one("servicemonitor.yaml");
    let configmap = one("configmap.yaml");
    let secret = one("secret.example.yaml");

    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert!(labels_match(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    assert!(labels_match(&service["spec"]["selector"], pod_labels));
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["kind"], "ServiceMonitor");
    assert!(labels_match(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));

    let containers = pod["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let command: Vec<&str> = [&container["command"], &container["args"]]
        .into_iter()
        .flat_map(|v| v.as_array().unwrap())
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        command,
        [
            "/usr/local/bin/retino-sync",
            "--config",
            "/etc/retino-sync/config.toml",
            "run"
        ]
    );

    // Ports: the container's, the Service's, the probes', the monitor's.
    let port = named(&container["ports"], "http-metrics");
    let container_port = port["containerPort"].as_u64().unwrap();
    let service_port = named(&service["spec"]["ports"], "http-metrics");
    assert_eq!(service_port["targetPort"], "http-metrics");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path);
        assert_eq!(container[probe]["httpGet"]["port"], "http-metrics");
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "http-metrics");
    assert_eq!(endpoint["path"], "/metrics");
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"],
        container_port.to_string()
    );
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // Volumes: config.toml from the ConfigMap, the token from the Secret.
    let volumes = &pod["spec"]["volumes"];
    let mounts = &container["volumeMounts"];
    let config_volume = named(volumes, "config");
    assert_eq!(
        config_volume["configMap"]["name"],
        configmap["metadata"]["name"]
    );
    assert_eq!(
        format!(
            "{}/config.toml",
            named(mounts, "config")["mountPath"].as_str().unwrap()
        ),
        command[2]
    );
    let token_volume = named(volumes, "retino-token");
    assert_eq!(
        token_volume["secret"]["secretName"],
        secret["metadata"]["name"]
    );
    let token_item = &token_volume["secret"]["items"][0];
    assert!(secret["stringData"][token_item["key"].as_str().unwrap()].is_string());
    let token_path = format!(
        "{}/{}",
        named(mounts, "retino-token")["mountPath"].as_str().unwrap(),
        token_item["path"].as_str().unwrap()
    );

    // The environment as the pod gets it; the token file's path must be the
    // mounted one, and is pointed at a real file for loading here.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    fs::write(&token_file, "example-token\n").unwrap();
    let mut env = HashMap::new();
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = if let Some(value) = var["value"].as_str() {
            value.to_owned()
        } else {
            let key = &var["valueFrom"]["secretKeyRef"];
            assert_eq!(key["name"], secret["metadata"]["name"], "{name}");
            secret["stringData"][key["key"].as_str().unwrap()]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: the Secret has no key {}", key["key"]))
                .to_owned()
        };
        env.insert(name, value);
    }
    assert_eq!(env["RETINO_SYNC__API__TOKEN_FILE"], token_path);
    env.insert(
        "RETINO_SYNC__API__TOKEN_FILE".into(),
        token_file.display().to_string(),
    );
    assert!(env.contains_key("RETINO_SYNC__DATABASE__URL"));

    let config = dir.path().join("config.toml");
    fs::write(&config, configmap["data"]["config.toml"].as_str().unwrap()).unwrap();
    let settings = Settings::load_from(Some(&config), &env)
        .unwrap_or_else(|e| panic!("configmap.yaml's config.toml does not load: {e}"));
    assert_eq!(u64::from(settings.server.listen.port()), container_port);
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        settings.sync.shutdown_timeout < Duration::from_secs(grace),
        "sync.shutdown_timeout must end before terminationGracePeriodSeconds"
    );
}

// ---------------------------------------------------------------------------
// The systemd example configuration

/// `KEY=VALUE` lines of an environment file (no quoting used).
fn env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// config.toml.example as the unit runs it: the env file, the unit's
/// Environment= with %d as the credentials directory holding the token.
#[test]
fn systemd_example_configuration_loads_as_the_unit_runs_it() {
    let entries = unit_entries(&read(&repo(UNIT)));
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path();
    for credential in unit_values(&entries, "LoadCredential") {
        let (name, _source) = credential.split_once(':').expect("LoadCredential=ID:PATH");
        fs::write(credentials.join(name), "example-token\n").unwrap();
    }

    let mut env = env_file(&read(&repo("deploy/systemd/retino-sync.env.example")));
    for assignment in unit_values(&entries, "Environment") {
        let assignment = assignment.replace("%d", &credentials.display().to_string());
        let (k, v) = assignment.split_once('=').expect("Environment=KEY=VALUE");
        env.insert(k.to_owned(), v.to_owned());
    }
    assert!(
        env.contains_key("RETINO_SYNC__API__TOKEN_FILE"),
        "the unit must point api.token_file at its credential"
    );

    let example = repo("deploy/systemd/config.toml.example");
    let exec_start = unit_values(&entries, "ExecStart");
    assert_eq!(
        exec_start,
        ["/usr/local/bin/retino-sync --config /etc/retino-sync/config.toml run"]
    );
    let settings = Settings::load_from(Some(&example), &env)
        .unwrap_or_else(|e| panic!("config.toml.example does not load: {e}"));
    assert_eq!(settings.server.listen.port(), 8080);

    let stop = unit_values(&entries, "TimeoutStopSec");
    assert_eq!(stop.len(), 1);
    assert!(
        settings.sync.shutdown_timeout < duration(stop[0]),
        "sync.shutdown_timeout must end before the unit's TimeoutStopSec"
    );
}

// ---------------------------------------------------------------------------
// The Containerfile

/// The build stage copies only some paths into the image. A copy of just
/// those must still be a buildable package: its manifest's targets present,
/// Cargo.lock current (`--locked`), and every file the sources embed at
/// compile time included.
#[test]
fn containerfile_build_context_has_what_the_build_needs() {
    let containerfile = read(&repo("deploy/Containerfile"));
    let copies: Vec<Vec<&str>> = containerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .map(|l| l.split_whitespace().collect())
        .collect();

    // The build stage's WORKDIR is the context's root here; each COPY keeps
    // its sources' relative paths (`COPY a b ./` or `COPY dir/ dir/`).
    let context = tempfile::tempdir().unwrap();
    for copy in copies.iter().filter(|c| !c[0].starts_with("--from")) {
        let (destination, sources) = copy.split_last().unwrap();
        for source in sources {
            assert!(
                *destination == "./" || destination == source,
                "deploy/Containerfile: COPY {source} {destination} moves a path, \
                 which this test does not follow"
            );
            copy_tree(&repo(source), &context.path().join(source));
        }
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .unwrap();
    let output = Command::new(&cargo)
        .args(["fetch", "--locked", "--offline", "--target", &host])
        .current_dir(context.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        output.status.success(),
        "cargo fetch --locked in the Containerfile's build context:\n{}",
        text(&output)
    );

    // Files embedded at compile time must be in the context too.
    // (include_str!/include_bytes! are relative to the file, sqlx's
    // migrate! to the package.) Unit-test modules are not built into the
    // image, so what they embed (tests/fixtures/) need not be copied.
    for file in rust_files(&context.path().join("src")) {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let source = read(&file);
        let source = without_test_module(&source);
        let here = file.parent().unwrap();
        for (opening, base) in [
            ("include_str!(\"", here),
            ("include_bytes!(\"", here),
            ("migrate!(\"", context.path()),
        ] {
            for (at, _) in source.match_indices(opening) {
                let rest = &source[at + opening.len()..];
                let embedded = &rest[..rest.find('"').unwrap()];
                assert!(
                    base.join(embedded).exists(),
                    "{} embeds {embedded}, which deploy/Containerfile does not copy",
                    file.display()
                );
            }
        }
    }

    // The runtime stage ships binaries the package builds.
    let shipped: Vec<&str> = copies
        .iter()
        .filter(|c| c[0] == "--from=build")
        .flat_map(|c| c[1..c.len() - 1].iter().copied())
        .collect();
    assert!(!shipped.is_empty());
    let manifest = read(&repo("Cargo.toml"));
    for binary in shipped {
        let name = binary
            .strip_prefix("/src/target/release/")
            .unwrap_or_else(|| panic!("{binary} is not a release build output"));
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "Cargo.toml builds no binary `{name}`"
        );
    }
    assert!(containerfile.contains("ENTRYPOINT [\"/usr/local/bin/retino-sync\"]"));
}

/// The source up to its `#[cfg(test)] mod tests {`, which by convention
/// closes the file.
fn without_test_module(source: &str) -> &str {
    let mut offset = 0;
    let mut lines = source.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let next = lines.peek().map_or("", |l| l.trim());
        if line.trim() == "#[cfg(test)]" && next.starts_with("mod ") && next.ends_with('{') {
            return &source[..offset];
        }
        offset += line.len();
    }
    source
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
