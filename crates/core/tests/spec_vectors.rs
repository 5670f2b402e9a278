//! The cross-SDK shared-config spec vectors in `tests/data/spec/` (copied from smithy-rs, see the
//! README there), run against keyfob's profile model and file discovery: every case of each file,
//! one table-driven test per file.
//!
//! A case that fails is reported by name with what differed; all failures of a table are
//! reported together, and the number of cases run is asserted so that a loader that finds
//! nothing fails too.

use aws_runtime::env_config::property::Property;
use aws_runtime::env_config::section::Profile as RawProfile;
use keyfob_core::Env;
use keyfob_core::paths::{config_file, credentials_file};
use keyfob_core::profile::{Profiles, select_profile};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Cases in `profile-parser-tests.json`.
const PARSER_CASES: usize = 65;
/// Cases in `file-location-tests.json`, all platforms together.
const FILE_LOCATION_CASES: usize = 9;

/// The platform name the file-location vectors use for the running OS ("linux" stands for every
/// non-Windows platform there: its cases say "non-windows platforms").
const PLATFORM: &str = if cfg!(windows) { "windows" } else { "linux" };

/// File-location cases keyfob is known to get wrong, each with the fix proposed to the owner of
/// `paths.rs` / `env.rs`. They still run and still fail: this list only says why, so remove an
/// entry once its fix lands.
/// Cases keyfob gets wrong, with the fix they need (none at present; a case listed here still
/// fails, its message then carries the proposed fix).
const KNOWN_WRONG_LOCATIONS: &[(&str, &str)] = &[];

fn spec_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/spec")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// profile-parser-tests.json

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParserSuite {
    #[allow(dead_code)] // read by humans
    description: Vec<String>,
    tests: Vec<ParserCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParserCase {
    name: String,
    input: ParserInput,
    output: ParserOutput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ParserInput {
    config_file: Option<String>,
    credentials_file: Option<String>,
}

/// Section name → key → value.
type Sections = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum ParserOutput {
    Config {
        profiles: Sections,
        #[serde(default)]
        sso_sessions: Sections,
    },
    ErrorContaining(String),
}

#[test]
fn profile_parser_spec_vectors() {
    let suite: ParserSuite = serde_json::from_str(&spec_file("profile-parser-tests.json"))
        .expect("profile-parser-tests.json matches the schema this test knows");
    let mut executed = 0;
    let mut failures = String::new();
    for case in &suite.tests {
        executed += 1;
        if let Err(why) = check_parser_case(case) {
            let _ = writeln!(failures, "- {}\n  {}", case.name, why.replace('\n', "\n  "));
        }
    }
    assert!(
        failures.is_empty(),
        "profile-parser vectors: {executed} executed, some failed:\n{failures}"
    );
    assert_eq!(
        executed, PARSER_CASES,
        "profile-parser vectors: expected {PARSER_CASES} cases, executed {executed}"
    );
}

fn check_parser_case(case: &ParserCase) -> Result<(), String> {
    let config = case.input.config_file.as_deref().unwrap_or("");
    let credentials = case.input.credentials_file.as_deref().unwrap_or("");
    match (&case.output, Profiles::parse(config, credentials)) {
        (ParserOutput::ErrorContaining(want), Err(err)) => {
            let msg = err.to_string();
            if msg.to_lowercase().contains(&want.to_lowercase()) {
                Ok(())
            } else {
                Err(format!("error {msg:?} does not contain {want:?}"))
            }
        }
        (ParserOutput::ErrorContaining(want), Ok(parsed)) => Err(format!(
            "expected an error containing {want:?}, but it parsed to profiles {:?}",
            parsed.profile_names()
        )),
        (ParserOutput::Config { .. }, Err(err)) => {
            Err(format!("expected the files to parse, got: {err}"))
        }
        (
            ParserOutput::Config {
                profiles,
                sso_sessions,
            },
            Ok(parsed),
        ) => {
            check_profiles(&parsed, profiles)?;
            check_sso_sessions(&parsed, sso_sessions, &[config, credentials])
        }
    }
}

/// Profiles compare exactly: aws-runtime's `Profile` can be built from the expected keys and
/// values and compared whole, so extra or missing keys and the kept key spelling all count.
fn check_profiles(parsed: &Profiles, want: &Sections) -> Result<(), String> {
    let want_names: Vec<String> = want.keys().cloned().collect();
    if parsed.profile_names() != want_names {
        return Err(format!(
            "profiles {:?}, expected {want_names:?}",
            parsed.profile_names()
        ));
    }
    for (name, props) in want {
        let expected = RawProfile::new(
            name.clone(),
            props
                .iter()
                // The map is keyed by the lower-cased name; the property keeps the spelling.
                .map(|(k, v)| (k.to_ascii_lowercase(), Property::new(k.clone(), v.clone())))
                .collect(),
        );
        let got = parsed.raw().get_profile(name);
        if got != Some(&expected) {
            return Err(format!(
                "profile {name:?} parsed to\n{got:#?}\nexpected\n{expected:#?}"
            ));
        }
        let view = parsed
            .profile(name)
            .ok_or_else(|| format!("keyfob's profile({name:?}) is None"))?;
        for (key, value) in props {
            check_view(&format!("profile {name:?}"), key, value, view.get(key))?;
        }
    }
    Ok(())
}

/// sso-sessions cannot be built or iterated through aws-runtime's public API, so each expected
/// key must read back exactly, and every other key written anywhere in the input (the text
/// before an `=`) must read back as absent.
fn check_sso_sessions(parsed: &Profiles, want: &Sections, inputs: &[&str]) -> Result<(), String> {
    let want_names: Vec<String> = want.keys().cloned().collect();
    if parsed.sso_session_names() != want_names {
        return Err(format!(
            "sso-sessions {:?}, expected {want_names:?}",
            parsed.sso_session_names()
        ));
    }
    let candidates: BTreeSet<String> = inputs
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| line.split_once('='))
        .map(|(key, _)| key.trim().to_ascii_lowercase())
        .filter(|key| !key.is_empty())
        .collect();
    for (name, props) in want {
        let raw = parsed
            .raw()
            .sso_session(name)
            .ok_or_else(|| format!("sso-session {name:?} is missing from raw()"))?;
        let view = parsed
            .sso_session(name)
            .ok_or_else(|| format!("keyfob's sso_session({name:?}) is None"))?;
        for (key, value) in props {
            if raw.get(key) != Some(value.as_str()) {
                return Err(format!(
                    "sso-session {name:?}: {key} = {:?}, expected {value:?}",
                    raw.get(key)
                ));
            }
            check_view(&format!("sso-session {name:?}"), key, value, view.get(key))?;
        }
        for key in &candidates {
            let expected = props.keys().any(|k| k.eq_ignore_ascii_case(key));
            if !expected && raw.get(key).is_some() {
                return Err(format!(
                    "sso-session {name:?} has unexpected key {key} = {:?}",
                    raw.get(key)
                ));
            }
        }
    }
    Ok(())
}

/// keyfob's own accessors trim values and treat empty ones as unset.
fn check_view(section: &str, key: &str, value: &str, got: Option<&str>) -> Result<(), String> {
    let expected = Some(value.trim()).filter(|v| !v.is_empty());
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "{section}: keyfob's get({key:?}) = {got:?}, expected {expected:?}"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// file-location-tests.json

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationSuite {
    #[allow(dead_code)] // read by humans
    description: Vec<String>,
    tests: Vec<LocationCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocationCase {
    name: String,
    environment: BTreeMap<String, String>,
    platform: String,
    profile: Option<String>,
    config_location: String,
    credentials_location: String,
}

#[test]
fn file_location_spec_vectors() {
    let suite: LocationSuite = serde_json::from_str(&spec_file("file-location-tests.json"))
        .expect("file-location-tests.json matches the schema this test knows");
    let (mut executed, mut skipped) = (0, Vec::new());
    let mut failures = String::new();
    for case in &suite.tests {
        match case.platform.as_str() {
            p if p == PLATFORM => {}
            "linux" | "windows" => {
                skipped.push(case.platform.as_str());
                continue;
            }
            other => {
                let _ = writeln!(failures, "- {}\n  unknown platform {other:?}", case.name);
                continue;
            }
        }
        executed += 1;
        let problems = check_location_case(case);
        if !problems.is_empty() {
            let _ = writeln!(failures, "- {}", case.name);
            for problem in problems {
                let _ = writeln!(failures, "  {problem}");
            }
            if let Some((_, fix)) = KNOWN_WRONG_LOCATIONS.iter().find(|(n, _)| *n == case.name) {
                let _ = writeln!(failures, "  known; proposed fix: {fix}");
            }
        }
    }
    let summary = format!(
        "file-location vectors on {PLATFORM}: {executed} executed, {} skipped (for {:?})",
        skipped.len(),
        skipped.iter().collect::<BTreeSet<_>>()
    );
    assert!(failures.is_empty(), "{summary}; failures:\n{failures}");
    assert_eq!(
        executed + skipped.len(),
        FILE_LOCATION_CASES,
        "{summary}; expected {FILE_LOCATION_CASES} cases in all"
    );
    assert!(executed > 0, "{summary}; none ran on this platform");
}

fn check_location_case(case: &LocationCase) -> Vec<String> {
    let env = Env::from_pairs(case.environment.clone());
    let mut problems = Vec::new();
    let config = config_file(&env);
    if config != Path::new(&case.config_location) {
        problems.push(format!(
            "config_file = {}, expected {}",
            config.display(),
            case.config_location
        ));
    }
    let credentials = credentials_file(&env);
    if credentials != Path::new(&case.credentials_location) {
        problems.push(format!(
            "credentials_file = {}, expected {}",
            credentials.display(),
            case.credentials_location
        ));
    }
    if let Some(want) = &case.profile {
        let got = select_profile(None, &env);
        if &got != want {
            problems.push(format!("selected profile = {got:?}, expected {want:?}"));
        }
    }
    problems
}
