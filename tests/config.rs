//! Configuration as users write it: files, environment, token files, and
//! the one-line errors that name the key to fix.

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;

use retino_sync::config::Settings;
use secrecy::ExposeSecret;

const SECRET: &str = "s3cr3t-token-value";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

#[test]
fn the_environment_overrides_the_file_which_overrides_the_defaults() {
    let f = file("[api]\npage_size = 10\ntimeout = \"5s\"\ntoken = \"from-file\"\n");
    let s = Settings::load_from(
        Some(f.path()),
        &env(&[("RETINO_SYNC__API__PAGE_SIZE", "20")]),
    )
    .unwrap();
    let api = &s.accounts[0].api;
    assert_eq!(api.page_size, 20);
    assert_eq!(api.timeout, std::time::Duration::from_secs(5));
    assert_eq!(api.max_retries, 8, "unset keys keep their defaults");
    assert_eq!(api.token.expose_secret(), "from-file");
}

#[test]
fn tokens_come_from_files_per_account() {
    let mut cz = tempfile::NamedTempFile::new().unwrap();
    writeln!(cz, "  token-cz  ").unwrap();
    let f = file(&format!(
        "[api]\ntoken = \"shared\"\n\n[[accounts]]\nname = \"cz\"\ntoken_file = \"{}\"\n\n[[accounts]]\nname = \"sk\"\npage_size = 7\n",
        cz.path().display()
    ));
    let s = Settings::load_from(Some(f.path()), &env(&[])).unwrap();
    assert_eq!(s.accounts.len(), 2);
    assert_eq!(
        s.account("cz").unwrap().api.token.expose_secret(),
        "token-cz"
    );
    assert_eq!(s.account("sk").unwrap().api.token.expose_secret(), "shared");
    assert_eq!(s.account("sk").unwrap().api.page_size, 7);
    assert_eq!(s.account("cz").unwrap().api.page_size, 100);
}

#[test]
fn bad_settings_fail_naming_the_key() {
    // (file content, environment, the key the error must name)
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (Some("[api]\ntokn = \"x\"\n"), vec![], "tokn"),
        (
            Some("[sync]\nlookback = \"soon\"\n"),
            vec![("RETINO_SYNC__API__TOKEN", "t")],
            "sync.lookback",
        ),
        (
            None,
            vec![
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("RETINO_SYNC__API__PAGE_SIZE", "many"),
            ],
            "api.page_size",
        ),
        (
            None,
            vec![
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("RETINO_SYNC__API__BASE_URL", "not a url"),
            ],
            "api.base_url",
        ),
        (
            None,
            vec![("RETINO_SYNC__API__TOKEN_FILE", "/nonexistent/token")],
            "api.token_file",
        ),
        (
            None,
            vec![
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("RETINO_SYNC__SYNC__SCHEDULE", "*/5 * * * *"),
            ],
            "sync.schedule",
        ),
        (
            None,
            vec![
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("RETINO_SYNC__DATABASE__URL", "mysql://x"),
            ],
            "database.url",
        ),
        (Some("[[accounts]]\nname = \"cz\"\n"), vec![], "api.token"),
        (
            Some("[api]\ntoken = \"t\"\n[[accounts]]\nname = \"cz\"\npage_size = 0\n"),
            vec![],
            "accounts[0].page_size",
        ),
    ];
    for (content, vars, key) in cases {
        let f = content.map(file);
        let err = Settings::load_from(f.as_ref().map(|f| f.path()), &env(&vars))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key),
            "error for {content:?} {vars:?} should name `{key}`: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn the_token_never_shows_in_debug_output_or_errors() {
    let s = Settings::load_from(None, &env(&[("RETINO_SYNC__API__TOKEN", SECRET)])).unwrap();
    assert!(!format!("{s:?}").contains(SECRET));
    let err = Settings::load_from(
        None,
        &env(&[
            ("RETINO_SYNC__API__TOKEN", SECRET),
            ("RETINO_SYNC__API__TOKEN_FILE", "/x"),
        ]),
    )
    .unwrap_err();
    assert!(!err.to_string().contains(SECRET));
    let client = retino_sync::retino::RetinoClient::new(&s.accounts[0]).unwrap();
    assert!(!format!("{client:?}").contains(SECRET));
}

#[test]
fn the_binary_stops_at_start_with_one_line_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_retino-sync"))
        .env_clear()
        .env("RETINO_SYNC__API__TOKEN", SECRET)
        .env("RETINO_SYNC__API__TIMEOUT", "forever")
        .arg("sync")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("api.timeout"), "{stderr}");
    assert!(!stderr.contains(SECRET));
}
