//! The config editor against botocore's own config-file test vectors
//! (`tests/unit/cfg` of botocore, Apache-2.0; LICENSE.txt and NOTICE sit beside the copies in
//! `tests/data/botocore-cfg`).

use std::path::{Path, PathBuf};

use keyfob_core::editor::{ConfigDocument, EditError, SectionId, edit_file};

const LICENCE_FILES: &[&str] = &["LICENSE.txt", "NOTICE"];

fn vectors() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/botocore-cfg");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !LICENCE_FILES.iter().any(|l| p.ends_with(l)))
        .collect();
    files.sort();
    files
}

#[test]
fn every_botocore_vector_round_trips_or_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let (mut round_tripped, mut refused) = (Vec::new(), Vec::new());
    for path in vectors() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let doc = ConfigDocument::parse(text);
            assert_eq!(doc.render(), text, "{name} changed by parse + render");

            // Adding a profile must leave every original byte in place, in front.
            let mut doc = doc;
            doc.set(
                &SectionId::Profile("keyfob-added".into()),
                "region",
                "eu-west-1",
            );
            let rendered = doc.render();
            assert!(rendered.starts_with(text), "{name}: original bytes moved");
            assert!(
                rendered.ends_with("[profile keyfob-added]\nregion = eu-west-1\n"),
                "{name}: {rendered:?}"
            );
            round_tripped.push(name);
        } else {
            // A copy: edit_file leaves a lock file beside what it edits.
            let copy = scratch.path().join(&name);
            std::fs::write(&copy, &bytes).unwrap();
            let err = edit_file(&copy, |d| {
                d.set(&SectionId::Profile("x".into()), "k", "v");
                Ok::<_, ()>(())
            })
            .unwrap_err();
            assert!(
                matches!(&err, EditError::NotUtf8 { path } if *path == copy),
                "{name}: {err:?}"
            );
            assert_eq!(std::fs::read(&copy).unwrap(), bytes, "{name} was modified");
            refused.push(name);
        }
    }
    // Pinned so that a lost or unreadable vector cannot quietly shrink the table.
    assert_eq!(round_tripped.len(), 14, "{round_tripped:?}");
    assert_eq!(refused, ["aws_config_badbytes"]);
}

fn vector(name: &str) -> ConfigDocument {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/botocore-cfg")
        .join(name);
    ConfigDocument::parse(&std::fs::read_to_string(path).unwrap())
}

#[test]
fn botocore_vectors_read_like_aws_config() {
    let default = SectionId::Profile("default".into());

    let nested = vector("aws_config_nested");
    assert_eq!(
        nested.get(&default, "s3").as_deref(),
        Some("\nsignature_version = s3v4\naddressing_style = path")
    );
    assert_eq!(nested.get(&default, "region").as_deref(), Some("us-west-2"));
    let mut without_s3 = nested.clone();
    assert!(without_s3.remove_key(&default, "s3"));
    assert_eq!(
        without_s3.render(),
        "[default]\naws_access_key_id = foo\naws_secret_access_key = bar\ncloudwatch =\n    signature_version = v4\nregion=us-west-2\n"
    );

    // Quotes are part of the name to aws-config (which then ignores the profile), unlike botocore.
    assert_eq!(
        vector("aws_config").sections(),
        [
            SectionId::Bare("default".into()),
            SectionId::Profile("\"personal\"".into())
        ]
    );
    assert_eq!(
        vector("aws_sso_session_config").sections(),
        [
            SectionId::Bare("default".into()),
            SectionId::SsoSession("sso".into())
        ]
    );
    // `[services my-services]` is kept but is not a profile.
    assert_eq!(
        vector("aws_services_config").sections(),
        [SectionId::Bare("default".into())]
    );
    assert_eq!(
        vector("boto_config_empty").keys(&SectionId::Bare("Credentials".into())),
        []
    );
    // Keys before any header belong to no section.
    assert_eq!(vector("aws_credentials").sections(), []);
}
