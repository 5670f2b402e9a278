//! The config file editor (`keyfob_core::editor::ConfigDocument`) on arbitrary text with one
//! random edit: set or remove a key, upsert, replace or remove a section, on a section the file
//! has or a new one. It checks what the editor promises:
//!
//! - parse → render gives back the text, byte for byte;
//! - no panic, for names, keys and values the editor's callers may pass (see its docs);
//! - every section the edit does not address is byte for byte what it was. The only slack is
//!   at the seams the editor documents: creating a section at the end may end the file's last
//!   line and add a blank line; removing one may take the blank lines before it when it was
//!   last, and leaves its closing comments (and any comments) behind;
//! - comment lines are never lost by anything but removing their section;
//! - the edit did what it says (`get`, `keys`, `sections` read it back) and doing it again
//!   changes nothing.
//!
//! Input layout: byte 0 is how many of the following bytes choose the edit; the rest is the
//! file (invalid UTF-8 replaced, as `edit_file` refuses such files).
#![no_main]

use keyfob_core::editor::{ConfigDocument, SectionId};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const WHITESPACE: [char; 2] = [' ', '\t'];

/// `KEYFOB_FUZZ_VERBOSE=1`: print each input's edit (to read a crash).
static VERBOSE: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("KEYFOB_FUZZ_VERBOSE").is_some());

#[derive(Debug, Clone)]
enum Edit {
    Set(String, String),
    RemoveKey(String),
    Upsert(Vec<(String, String)>),
    Replace(Vec<(String, String)>),
    RemoveSection,
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (control, file) = rest.split_at(usize::from(n).min(rest.len()));
    let text = String::from_utf8_lossy(file);
    let doc = ConfigDocument::parse(&text);
    assert_eq!(doc.render(), text, "parse → render changed the text");

    let mut u = Unstructured::new(control);
    let Ok((id, edit)) = choose(&mut u, &doc) else {
        return;
    };
    if *VERBOSE {
        eprintln!("{edit:?} on {id:?} in {text:?}");
    }
    check(doc, &id, &edit);
});

fn choose(u: &mut Unstructured<'_>, doc: &ConfigDocument) -> arbitrary::Result<(SectionId, Edit)> {
    let existing = doc.sections();
    let id = match u.int_in_range(0u8..=4)? {
        0 | 1 if !existing.is_empty() => u.choose(&existing)?.clone(),
        0 | 1 | 2 => SectionId::Profile(name(u)?),
        3 => SectionId::SsoSession(name(u)?),
        _ => SectionId::Bare(name(u)?),
    };
    let edit = match u.int_in_range(0u8..=5)? {
        0 | 1 => Edit::Set(key(u, doc, &id)?, value(u)?),
        2 => Edit::RemoveKey(key(u, doc, &id)?),
        3 | 4 => {
            let n = u.int_in_range(0u8..=3)?;
            let entries = (0..n)
                .map(|_| Ok((key(u, doc, &id)?, value(u)?)))
                .collect::<arbitrary::Result<Vec<_>>>()?;
            if u.arbitrary()? {
                Edit::Upsert(entries)
            } else {
                Edit::Replace(entries)
            }
        }
        _ => Edit::RemoveSection,
    };
    Ok((id, edit))
}

fn name(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => "default".to_owned(),
        1 => "dev".to_owned(),
        2 => "prod.eu-1".to_owned(),
        _ => String::arbitrary(u)?,
    })
}

fn key(
    u: &mut Unstructured<'_>,
    doc: &ConfigDocument,
    id: &SectionId,
) -> arbitrary::Result<String> {
    const KEYS: &[&str] = &[
        "region",
        "Region",
        "sso_start_url",
        "credential_process",
        "s3",
    ];
    Ok(match u.int_in_range(0u8..=3)? {
        0 => u.choose(KEYS)?.to_string(),
        1 => match doc.keys(id) {
            keys if keys.is_empty() => u.choose(KEYS)?.to_string(),
            keys => u.choose(&keys)?.0.clone(),
        },
        _ => String::arbitrary(u)?,
    })
}

fn value(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => String::new(),
        1 => "https://d-abc123.awsapps.com/start/#/".to_owned(),
        _ => String::arbitrary(u)?,
    })
}

/// A key the editor may be given (`ConfigDocument::set` asserts this).
fn key_allowed(key: &str) -> bool {
    !key.is_empty()
        && !key.contains(['=', '\n', '\r'])
        && !key.starts_with(WHITESPACE)
        && !key.starts_with(['[', '#', ';'])
}

fn value_allowed(value: &str) -> bool {
    !value.contains(['\n', '\r'])
}

/// Whether `key` on a line of its own reads back as itself.
fn plain_key(key: &str) -> bool {
    let id = SectionId::Bare("a".to_owned());
    ConfigDocument::parse(&format!("[a]\n{key} = x\n")).keys(&id)
        == [(key.to_owned(), "x".to_owned())]
}

/// Whether `value` on a line of its own reads back as itself (no comment, no edge whitespace).
fn plain_value(value: &str) -> bool {
    let id = SectionId::Bare("a".to_owned());
    ConfigDocument::parse(&format!("[a]\nk = {value}\n"))
        .get(&id, "k")
        .as_deref()
        == Some(value)
}

/// The id of the section that `id` addresses in a file with these sections: itself, or for
/// the default profile a bare `[default]` when there is no `[profile default]`.
fn resolve(sections: &[SectionId], id: &SectionId) -> Option<SectionId> {
    let bare_default = SectionId::Bare("default".to_owned());
    if sections.contains(id) {
        Some(id.clone())
    } else if *id == SectionId::Profile("default".to_owned()) && sections.contains(&bare_default) {
        Some(bare_default)
    } else {
        None
    }
}

fn check(mut doc: ConfigDocument, id: &SectionId, edit: &Edit) {
    let keys_ok = match edit {
        Edit::Set(k, v) => key_allowed(k) && value_allowed(v),
        Edit::RemoveKey(k) => key_allowed(k),
        Edit::Upsert(e) | Edit::Replace(e) => {
            e.iter().all(|(k, v)| key_allowed(k) && value_allowed(v))
        }
        Edit::RemoveSection => true,
    };
    let before = doc.render();
    let sections_before = doc.sections();
    let exact = resolve(&sections_before, id);
    let creates = exact.is_none() && !matches!(edit, Edit::RemoveKey(_) | Edit::RemoveSection);
    if !keys_ok || (creates && !id.is_writable()) {
        return;
    }

    apply(&mut doc, id, edit);
    let after = doc.render();
    let context = || format!("{edit:?} on {id:?}\nbefore: {before:?}\nafter:  {after:?}");

    // The sections the file lists.
    let sections_after = doc.sections();
    let mut expected = sections_before.clone();
    if creates {
        expected.push(match id {
            SectionId::Profile(n) if n == "default" => SectionId::Bare("default".to_owned()),
            other => other.clone(),
        });
    }
    if let (Some(exact), Edit::RemoveSection) = (&exact, edit) {
        expected.retain(|s| s != exact);
    }
    assert_eq!(sections_after, expected, "{}", context());

    untouched_sections_kept(&before, &after, exact.as_ref(), edit, creates, &context);

    let comments_before = comments(&before);
    let comments_after = comments(&after);
    if matches!(edit, Edit::RemoveSection) {
        let mut rest = comments_before.iter();
        assert!(
            comments_after.iter().all(|c| rest.any(|b| b == c)),
            "comments reordered or invented: {}",
            context()
        );
    } else {
        assert_eq!(comments_after, comments_before, "{}", context());
    }

    done_as_said(&doc, id, edit, &context);

    // Doing it again changes nothing (when what was written reads back as written).
    let plain = match edit {
        Edit::Set(k, v) => plain_key(k) && plain_value(v),
        Edit::Upsert(e) | Edit::Replace(e) => e.iter().all(|(k, v)| plain_key(k) && plain_value(v)),
        Edit::RemoveKey(_) => true,
        // Removing `[profile default]` leaves a bare `[default]` for the next removal.
        Edit::RemoveSection => !doc.has_section(id),
    };
    if plain {
        let mut again = doc.clone();
        apply(&mut again, id, edit);
        assert_eq!(again.render(), after, "not idempotent: {}", context());
    }
}

fn apply(doc: &mut ConfigDocument, id: &SectionId, edit: &Edit) {
    let pairs = |e: &[(String, String)]| -> Vec<(String, String)> { e.to_vec() };
    match edit {
        Edit::Set(k, v) => doc.set(id, k, v),
        Edit::RemoveKey(k) => {
            let had = doc.get(id, k).is_some();
            assert_eq!(doc.remove_key(id, k), had);
        }
        Edit::Upsert(e) | Edit::Replace(e) => {
            let owned = pairs(e);
            let borrowed: Vec<(&str, &str)> = owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if matches!(edit, Edit::Upsert(_)) {
                doc.upsert_section(id, &borrowed);
            } else {
                doc.replace_section(id, &borrowed);
            }
        }
        Edit::RemoveSection => {
            let had = doc.has_section(id);
            assert_eq!(doc.remove_section(id), had);
        }
    }
}

/// What the edit promised, read back through the editor.
fn done_as_said(doc: &ConfigDocument, id: &SectionId, edit: &Edit, context: &dyn Fn() -> String) {
    let last_values = |entries: &[(String, String)]| {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in entries {
            // Keys compare trimmed and ASCII case-insensitively.
            match out
                .iter_mut()
                .find(|(o, _)| o.eq_ignore_ascii_case(k.trim_matches(WHITESPACE)))
            {
                Some(o) => o.1.clone_from(v),
                None => out.push((k.trim_matches(WHITESPACE).to_owned(), v.clone())),
            }
        }
        out
    };
    match edit {
        Edit::Set(k, v) if plain_key(k) && plain_value(v) => {
            assert_eq!(doc.get(id, k).as_deref(), Some(v.as_str()), "{}", context());
        }
        Edit::Set(..) => {}
        Edit::RemoveKey(k) => assert_eq!(doc.get(id, k), None, "{}", context()),
        Edit::Upsert(e) | Edit::Replace(e) => {
            assert!(doc.has_section(id), "{}", context());
            for (k, v) in last_values(e) {
                if plain_key(&k) && plain_value(&v) {
                    assert_eq!(
                        doc.get(id, &k).as_deref(),
                        Some(v.as_str()),
                        "{}",
                        context()
                    );
                }
            }
            if matches!(edit, Edit::Replace(_)) && e.iter().all(|(k, _)| plain_key(k)) {
                let mut got: Vec<String> = doc
                    .keys(id)
                    .into_iter()
                    .map(|(k, _)| k.to_ascii_lowercase())
                    .collect();
                let mut want: Vec<String> = last_values(e)
                    .into_iter()
                    .map(|(k, _)| k.to_ascii_lowercase())
                    .collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "keys after replace: {}", context());
            }
        }
        // `sections` is checked by the caller.
        Edit::RemoveSection => {}
    }
}

/// A header line and the text up to the next one, as the editor cuts lines: a line ends at
/// `\n` (with the `\r` before it); a line starting with `[` is a header.
struct Chunk<'a> {
    header: Option<&'a str>,
    text: &'a str,
}

fn line_text(line: &str) -> &str {
    match line.strip_suffix('\n') {
        Some(l) => l.strip_suffix('\r').unwrap_or(l),
        None => line,
    }
}

fn chunks(text: &str) -> Vec<Chunk<'_>> {
    let mut starts = vec![(None, 0)];
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') {
            starts.push((Some(line_text(line)), pos));
        }
        pos += line.len();
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&(_, s)| s)
        .chain([text.len()])
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(|((header, start), end)| Chunk {
            header,
            text: &text[start..end],
        })
        .collect()
}

fn header_id(header: Option<&str>) -> Option<SectionId> {
    ConfigDocument::parse(header?).sections().into_iter().next()
}

fn is_blank(line: &str) -> bool {
    line_text(line).trim_matches(WHITESPACE).is_empty()
}

fn is_comment(line: &str) -> bool {
    line.starts_with(['#', ';'])
}

/// The comment lines of `text`. A `\r` that ends the file is not part of them: a new line after
/// it turns it into the line's CRLF ending.
fn comments(text: &str) -> Vec<&str> {
    text.split_inclusive('\n')
        .map(|l| line_text(l).trim_end_matches('\r'))
        .filter(|l| is_comment(l))
        .collect()
}

/// `text` without its trailing blank lines and its last line ending.
fn without_blank_tail(text: &str) -> &str {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    while lines.last().is_some_and(|l| is_blank(l)) {
        lines.pop();
    }
    let kept = lines.iter().map(|l| l.len()).sum();
    line_text(&text[..kept])
}

fn untouched_sections_kept(
    before: &str,
    after: &str,
    exact: Option<&SectionId>,
    edit: &Edit,
    creates: bool,
    context: &dyn Fn() -> String,
) {
    let b = chunks(before);
    let a = chunks(after);
    let targeted: Vec<bool> = b
        .iter()
        .map(|c| exact.is_some() && header_id(c.header).as_ref() == exact)
        .collect();

    if creates {
        assert_eq!(a.len(), b.len() + 1, "{}", context());
        let last = b.len() - 1;
        for i in 0..last {
            assert_eq!(a[i].header, b[i].header, "{}", context());
            assert_eq!(a[i].text, b[i].text, "section {i} changed: {}", context());
        }
        // The old last section may gain its line ending and a blank separator line.
        let grown = a[last].text.strip_prefix(b[last].text);
        assert!(
            grown.is_some_and(|g| g.chars().all(|c| c == '\r' || c == '\n')),
            "last section changed: {}",
            context()
        );
        return;
    }

    if matches!(edit, Edit::RemoveSection) && exact.is_some() {
        let kept: Vec<usize> = (0..b.len()).filter(|&i| !targeted[i]).collect();
        assert_eq!(a.len(), kept.len(), "{}", context());
        for (j, &i) in kept.iter().enumerate() {
            assert_eq!(a[j].header, b[i].header, "{}", context());
            let next_kept = kept.get(j + 1).copied().unwrap_or(b.len());
            if next_kept == i + 1 {
                assert_eq!(a[j].text, b[i].text, "section {i} changed: {}", context());
                continue;
            }
            // Removed sections follow this one: their closing comments now end it, and if
            // they ran to the end of the file, so may this one's blank lines.
            let base = if next_kept == b.len() {
                without_blank_tail(b[i].text)
            } else {
                b[i].text
            };
            let rest = a[j].text.strip_prefix(base);
            assert!(
                rest.is_some_and(|r| r
                    .split_inclusive('\n')
                    .all(|l| is_blank(l) || is_comment(l))),
                "section {i} changed: {}",
                context()
            );
        }
        return;
    }

    // Edits inside one section (or nothing to do).
    assert_eq!(a.len(), b.len(), "{}", context());
    for i in 0..b.len() {
        assert_eq!(a[i].header, b[i].header, "{}", context());
        if !targeted[i] {
            assert_eq!(a[i].text, b[i].text, "section {i} changed: {}", context());
        }
    }
}
