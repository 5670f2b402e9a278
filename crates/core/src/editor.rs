//! The format-preserving editor for the shared AWS config and credentials files.
//!
//! People keep hand-written comments, odd spacing and settings keyfob knows nothing about in
//! `~/.aws/config`; a tool that rewrites the file from a parsed model would destroy them. So the
//! document here is the file's lines, kept byte for byte, and every edit touches only the lines
//! it must. Lines are classified exactly the way `aws-config` reads them (see its
//! `env_config/parse.rs`), so what this editor calls a key, a sub-property or a comment is what
//! the SDKs will see.
//!
//! Values are single-line: INI has no escaping, so a line break in a value (or a key) would
//! start a new line of configuration. Callers must not pass one; debug builds assert it and
//! release builds cut the text at the first line break rather than let it inject settings.
//! A section is only created for a name whose header reads back as that name
//! ([`SectionId::is_writable`]); any other name panics, in release builds too, rather than
//! write the edit into another section.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::lock::{FileLock, create_private_dir};

/// What `aws-config` counts as whitespace in these files (it deliberately ignores other
/// Unicode whitespace at the edges of lines, keys and values).
const WHITESPACE: &[char] = &[' ', '\t'];
/// The characters that start a comment.
const COMMENT: &[char] = &['#', ';'];

/// Which section of a shared config/credentials file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionId {
    /// `[profile NAME]` in the config file; NAME "default" also matches a bare `[default]`
    /// (existing header kept as written; a new one is written `[default]`).
    Profile(String),
    /// `[sso-session NAME]`
    SsoSession(String),
    /// bare `[NAME]` as in the credentials file
    Bare(String),
}

impl SectionId {
    /// Whether this editor can create a section with this id: the header it is written with
    /// reads back as this id. Names that cannot be written: blank ones, ones with `#`, `;` or a
    /// line break, ones with whitespace (Unicode's, as `aws-config` trims) at either end, and
    /// bare names with any whitespace inside. (The SDKs ignore more: they take only letters,
    /// digits and `_-/.%@:+` in a profile name.)
    pub fn is_writable(&self) -> bool {
        self.is_named_by(parse_header(&self.header_parts().concat()).as_ref())
    }

    /// The header line written when this section is created, in pieces.
    fn header_parts(&self) -> [&str; 3] {
        match self {
            SectionId::Profile(name) if name == "default" => ["[default]", "", ""],
            SectionId::Profile(name) => ["[profile ", name, "]"],
            SectionId::SsoSession(name) => ["[sso-session ", name, "]"],
            SectionId::Bare(name) => ["[", name, "]"],
        }
    }

    /// Whether a header read as `read` (see [`parse_header`]), written from
    /// [`SectionId::header_parts`], names this section: what [`SectionId::is_writable`] means.
    fn is_named_by(&self, read: Option<&SectionId>) -> bool {
        let (SectionId::Profile(name) | SectionId::SsoSession(name) | SectionId::Bare(name)) = self;
        if name.contains(['\n', '\r']) {
            return false;
        }
        match (self, read) {
            (SectionId::Profile(name), Some(SectionId::Bare(bare))) if name == "default" => {
                bare == "default"
            }
            (SectionId::Profile(name), _) if name == "default" => false,
            (_, Some(read)) => read == self,
            (_, None) => false,
        }
    }
}

/// How a line ended in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Eol {
    /// The last line of a file without a final newline.
    None,
    #[default]
    Lf,
    CrLf,
}

impl Eol {
    /// This ending, to be written after `text`: a line that ends in a bare CR (kept as text,
    /// since only CRLF and LF end lines) gets CRLF, so the CR is not read as half of one.
    fn after(self, text: &str) -> Eol {
        if self == Eol::Lf && text.ends_with('\r') {
            Eol::CrLf
        } else {
            self
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Eol::None => "",
            Eol::Lf => "\n",
            Eol::CrLf => "\r\n",
        }
    }
}

/// A line of the file: where its text (without its terminator) lies in the document's
/// [`Text`], and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    start: usize,
    end: usize,
    eol: Eol,
    /// What the text is, worked out once (when the line is read or written) rather than on
    /// every look.
    kind: Kind,
}

/// The text of every line: the parsed file, then the text of each line an edit wrote,
/// appended. Lines are ranges of it, so that reading a file of 100,000 lines makes no
/// allocation per line and a line is a few words. Text that edits replace or remove stays
/// behind unused: a document lives for one edit of one file.
#[derive(Debug, Clone, Default)]
struct Text(String);

impl Text {
    fn of(&self, line: &Line) -> &str {
        &self.0[line.start..line.end]
    }

    /// A line of text `from` the end of the buffer: what was appended since `from`.
    fn line_from(&self, from: usize, eol: Eol) -> Line {
        let end = self.0.len();
        Line {
            start: from,
            end,
            eol,
            kind: classify(&self.0[from..end]),
        }
    }

    /// Appends the concatenation of `parts` and returns it as a line. Its ending follows it
    /// in the buffer (though not in the line), as in the parsed file, so that
    /// [`ConfigDocument::render`] copies new lines in runs too.
    fn push(&mut self, parts: &[&str], eol: Eol) -> Line {
        let from = self.0.len();
        for part in parts {
            self.0.push_str(part);
        }
        let line = self.line_from(from, eol);
        self.0.push_str(eol.as_str());
        line
    }
}

/// A shared config or credentials file as lines, so that rendering gives back every byte that
/// was not edited.
///
/// The lines are held in blocks: block 0 is what comes before the first header, and each header
/// line starts a block that runs to the next header. [`ConfigDocument::parse`] indexes the
/// blocks of every section once and each edit keeps that index true, so reading or editing a
/// section costs time in proportion to the section, not to the file.
#[derive(Debug, Clone)]
pub struct ConfigDocument {
    /// Never empty. A block an edit empties stays where it is, so that the block numbers in
    /// `index` hold; only at the end are empty blocks dropped: the last block is block 0 or
    /// holds a line.
    blocks: Vec<Block>,
    /// The blocks of each section this editor addresses, in file order; never an empty list.
    index: HashMap<SectionId, BlockList, BuildHasherDefault<NameHasher>>,
    /// The ending new lines get: the file's first, else LF. Kept from parsing because edits can
    /// remove every line that still shows it.
    eol: Eol,
    /// The lines' text.
    text: Text,
}

/// Lines of the file: a header line and the lines up to the next header, or (without a
/// header) what comes before the first header or what a removed section left behind: the
/// comments that followed it, which belong with what comes next.
#[derive(Debug, Clone, Default)]
struct Block {
    /// Whether the block is a section's, indexed under the id its header names (its first
    /// line is then the header); false for block 0, `[services x]`, malformed headers and
    /// leftovers.
    indexed: bool,
    lines: Vec<Line>,
}

/// The blocks of one section, in file order: nearly always one, held without an allocation.
#[derive(Debug, Clone)]
enum BlockList {
    One([usize; 1]),
    Many(Vec<usize>),
}

impl BlockList {
    fn as_slice(&self) -> &[usize] {
        match self {
            BlockList::One(one) => one,
            BlockList::Many(many) => many,
        }
    }

    fn push(&mut self, block: usize) {
        match self {
            BlockList::One([first]) => *self = BlockList::Many(vec![*first, block]),
            BlockList::Many(many) => many.push(block),
        }
    }
}

/// What a line is to `aws-config`; the order of the checks in [`classify`] is its order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    /// A section header; [`parse_header`] reads which section it names.
    Header,
    /// An indented line: part of the value (or sub-properties) of the key above it.
    Continuation,
    Property(Property),
    /// Not something `aws-config` accepts (it rejects the whole file); kept, never interpreted.
    Invalid,
}

/// Byte positions within a `key = value # comment` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Property {
    key_end: usize,
    eq: usize,
    value_start: usize,
    value_end: usize,
}

/// The index's hasher (FxHash's): a few cycles a word where the standard SipHash took a tenth
/// of a large populate. Section names come from the user's own config file, so there is no
/// adversary to choose colliding names.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.write_u64(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            // The last bytes, little-endian, zero-padded: without a call to memcpy.
            let word = rest
                .iter()
                .rev()
                .fold(0, |word, &byte| (word << 8) | u64::from(byte));
            self.write_u64(word);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_isize(&mut self, word: isize) {
        self.write_usize(word.cast_unsigned());
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A key line and the indented lines that continue it, all in one block.
#[derive(Debug, Clone)]
struct KeyLines {
    block: usize,
    line: usize,
    continuations: Vec<usize>,
}

/// Whether the line is a header: every line that starts with `[` is (it cannot also be blank
/// or a comment, which [`classify`] checks first).
#[cfg(test)]
fn is_header(text: &str) -> bool {
    text.starts_with('[')
}

/// Whether the byte is [`WHITESPACE`]. Both are ASCII, so trimming them byte by byte never
/// cuts a character: it does what `trim_matches(WHITESPACE)` does, without a character
/// search on every line.
fn is_whitespace(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn trim_start(text: &str) -> &str {
    let n = text.bytes().take_while(|&b| is_whitespace(b)).count();
    &text[n..]
}

fn trim_end(text: &str) -> &str {
    let n = text.bytes().rev().take_while(|&b| is_whitespace(b)).count();
    &text[..text.len() - n]
}

fn trim(text: &str) -> &str {
    trim_end(trim_start(text))
}

fn classify(text: &str) -> Kind {
    match text.bytes().next() {
        _ if text.bytes().all(is_whitespace) => Kind::Blank,
        Some(b'#' | b';') => Kind::Comment,
        Some(b'[') => Kind::Header,
        Some(b' ' | b'\t') => Kind::Continuation,
        _ => parse_property(text).map_or(Kind::Invalid, Kind::Property),
    }
}

/// Where a trailing comment starts in a property line: `#` or `;` after whitespace, so that
/// `https://host/#/start` stays a value.
fn value_comment_start(text: &str) -> Option<usize> {
    // Most lines have no `#` or `;` at all: find the first with a byte search (both are ASCII,
    // so no byte of another character matches) and look at characters only from there.
    let first = text.bytes().position(|b| b == b'#' || b == b';')?;
    // aws-config uses Unicode whitespace here, unlike everywhere else.
    let mut prev_whitespace = text[..first]
        .chars()
        .next_back()
        .is_some_and(char::is_whitespace);
    for (idx, ch) in text[first..].char_indices() {
        if COMMENT.contains(&ch) && prev_whitespace {
            return Some(first + idx);
        }
        prev_whitespace = ch.is_whitespace();
    }
    None
}

fn parse_property(text: &str) -> Option<Property> {
    let cut = value_comment_start(text).unwrap_or(text.len());
    let eq = text.as_bytes()[..cut].iter().position(|&b| b == b'=')?;
    let key = trim_end(&text[..eq]);
    if key.is_empty() {
        return None;
    }
    let after_eq = &text[eq + 1..cut];
    let value_start = eq + 1 + (after_eq.len() - trim_start(after_eq).len());
    let value_end = value_start + trim_end(&text[value_start..cut]).len();
    Some(Property {
        key_end: key.len(),
        eq,
        value_start,
        value_end,
    })
}

/// The section a header names, read the way `aws-config` does; `None` for sections this
/// editor does not address (`[services x]`, malformed headers).
fn parse_header(text: &str) -> Option<SectionId> {
    let text = trim(text);
    // In a header any `#` or `;` starts a comment, even without whitespace before it.
    let comment = text.bytes().position(|b| b == b'#' || b == b';');
    let text = trim(&text[..comment.unwrap_or(text.len())]);
    let inner = trim(text.strip_prefix('[')?.strip_suffix(']')?);
    let split = inner.bytes().position(is_whitespace);
    match split.map(|at| (&inner[..at], &inner[at + 1..])) {
        Some((prefix, name)) => {
            let name = name.trim().to_owned();
            match prefix.trim() {
                "profile" => Some(SectionId::Profile(name)),
                "sso-session" => Some(SectionId::SsoSession(name)),
                _ => None,
            }
        }
        None if inner.trim().is_empty() => None,
        None => Some(SectionId::Bare(inner.trim().to_owned())),
    }
}

/// Text up to the first line break: there is no way to escape one in these files.
fn single_line(text: &str) -> &str {
    debug_assert!(
        !text.contains(['\n', '\r']),
        "config file values and keys must be single-line: {text:?}"
    );
    // A byte search (both are ASCII): this runs on every value set, and values can be long.
    let end = text
        .bytes()
        .position(|b| b == b'\n' || b == b'\r')
        .unwrap_or(text.len());
    &text[..end]
}

/// Panics (in debug builds, unless a header) on a key that would not read back as itself.
fn check_key(key: &str) {
    debug_assert!(
        !key.is_empty()
            && !key.contains('=')
            && !key.starts_with(WHITESPACE)
            && !key.starts_with(['[', '#', ';']),
        "not a config key: {key:?}"
    );
    // Such a line would be a header: it would split the section, behind the index's back.
    assert!(!key.starts_with('['), "not a config key: {key:?}");
}

/// Whether two entries name the same key, as the files compare keys.
fn has_repeated_key(entries: &[(&str, &str)]) -> bool {
    entries.iter().enumerate().any(|(i, (k, _))| {
        entries[..i]
            .iter()
            .any(|(earlier, _)| trim(earlier).eq_ignore_ascii_case(trim(k)))
    })
}

fn key_matches(text: &str, property: &Property, key: &str) -> bool {
    text[..property.key_end].eq_ignore_ascii_case(trim(key))
}

/// `text` (a property line) with its value replaced, keeping the spacing and any comment.
fn replace_value(text: &str, property: &Property, value: &str) -> String {
    let (before, after) = (&text[..property.value_start], &text[property.value_end..]);
    // A comment must stay separated from the value by whitespace or it becomes part of it.
    // Whitespace other than space and tab (a no-break space) before the `#` is part of the old
    // value, so the comment can start right where the old value ends.
    let gap = if after.starts_with(COMMENT) && !value.ends_with(char::is_whitespace) {
        " "
    } else {
        ""
    };
    if value.is_empty() {
        // Avoid leaving `key = ` with trailing whitespace when nothing follows.
        return if after.trim_matches(WHITESPACE).is_empty() {
            text[..=property.eq].to_owned()
        } else if before.ends_with(WHITESPACE) {
            format!("{before}{}", after.trim_start_matches(WHITESPACE))
        } else {
            // `key=v # c`: the comment keeps its whitespace or it would become the value.
            format!("{before}{gap}{after}")
        };
    }
    if property.value_start < property.value_end {
        return format!("{before}{value}{gap}{after}");
    }
    // The old value was empty (`key =`, `key=`, `key = # note`): choose the spacing.
    let space_before =
        if property.value_start == property.eq + 1 && text[..property.eq].ends_with(WHITESPACE) {
            " "
        } else {
            ""
        };
    format!("{before}{space_before}{value}{gap}{after}")
}

impl Default for ConfigDocument {
    fn default() -> Self {
        Self {
            blocks: vec![Block::default()],
            index: HashMap::default(),
            eol: Eol::Lf,
            text: Text::default(),
        }
    }
}

/// Two documents are equal when they hold the same lines (however edits left them in blocks).
impl PartialEq for ConfigDocument {
    fn eq(&self, other: &Self) -> bool {
        self.eol == other.eol
            && self
                .lines()
                .map(|l| (self.text.of(l), l.eol))
                .eq(other.lines().map(|l| (other.text.of(l), l.eol)))
    }
}

impl Eq for ConfigDocument {}

impl ConfigDocument {
    /// Reads `text` into lines; never fails and keeps every byte, whatever the content.
    pub fn parse(text: &str) -> Self {
        let mut doc = Self {
            text: Text(text.to_owned()),
            ..Self::default()
        };
        // At most one section a `[`: room for them all at once, instead of growing the index
        // (and rehashing every name) as they come.
        let brackets = text.bytes().filter(|&b| b == b'[').count();
        doc.blocks.reserve(brackets);
        doc.index.reserve(brackets);
        let mut eol = None;
        // The lines of the last block, moved into a list of their own size when it ends:
        // growing each block's list line by line cost a few allocations a section.
        let mut pending: Vec<Line> = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let (end, next, line_eol) = match text[start..].find('\n') {
                Some(newline) => {
                    let newline = start + newline;
                    if text[start..newline].ends_with('\r') {
                        (newline - 1, newline + 1, Eol::CrLf)
                    } else {
                        (newline, newline + 1, Eol::Lf)
                    }
                }
                None => (text.len(), text.len(), Eol::None),
            };
            let line_text = &text[start..end];
            let kind = classify(line_text);
            if eol.is_none() && line_eol != Eol::None {
                eol = Some(line_eol);
            }
            if kind == Kind::Header {
                // Moved out, so that `pending` keeps its room for the next block.
                let mut lines = Vec::with_capacity(pending.len());
                lines.append(&mut pending);
                doc.blocks.last_mut().expect("never empty").lines = lines;
                doc.push_block(parse_header(line_text), Vec::new());
            }
            pending.push(Line {
                start,
                end,
                eol: line_eol,
                kind,
            });
            start = next;
        }
        doc.blocks.last_mut().expect("never empty").lines = pending;
        doc.eol = eol.unwrap_or(Eol::Lf);
        doc
    }

    /// The file's text: exactly the parsed bytes, plus the edits.
    pub fn render(&self) -> String {
        let text = self.text.0.as_str();
        let len = self.lines().map(|l| l.end - l.start + 2).sum();
        let mut out = String::with_capacity(len);
        // Lines that lie one after another in the buffer, each followed there by its ending
        // (most of them: the file's own lines and the ones edits appended), are copied as
        // one run rather than line by line.
        let (mut run_start, mut run_end) = (0, 0);
        for line in self.lines() {
            let eol = line.eol.as_str();
            let ended_in_place = text[line.end..].starts_with(eol);
            if line.start == run_end && ended_in_place {
                run_end = line.end + eol.len();
                continue;
            }
            out.push_str(&text[run_start..run_end]);
            if ended_in_place {
                (run_start, run_end) = (line.start, line.end + eol.len());
            } else {
                out.push_str(&text[line.start..line.end]);
                out.push_str(eol);
                (run_start, run_end) = (line.end, line.end);
            }
        }
        out.push_str(&text[run_start..run_end]);
        out
    }

    /// Whether the section exists (for `Profile("default")`, either header form).
    pub fn has_section(&self, id: &SectionId) -> bool {
        self.section(id).is_some()
    }

    /// The value of a top-level key as the SDKs read it: trimmed, without its trailing comment,
    /// with any indented continuation lines appended after `\n`. Keys compare ASCII
    /// case-insensitively and the last occurrence wins, as in `aws-config`.
    pub fn get(&self, id: &SectionId, key: &str) -> Option<String> {
        self.occurrences(id, key).last().map(|k| self.value_of(k))
    }

    /// The section's top-level keys and values (see [`ConfigDocument::get`]) in file order;
    /// a repeated key is listed once, where it first appears, with its effective value.
    pub fn keys(&self, id: &SectionId) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for &block in self.blocks_of(id) {
            for key_lines in self.key_lines(block) {
                let (key, value) = (
                    self.key_of(&key_lines).to_owned(),
                    self.value_of(&key_lines),
                );
                match out.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                    Some(existing) => existing.1 = value,
                    None => out.push((key, value)),
                }
            }
        }
        out
    }

    /// Every profile, sso-session and bare section in file order, each once, named as its
    /// header is written: a bare `[default]` is listed as `Bare("default")` (in the config file
    /// that is the default profile). Other sections such as `[services x]` are kept in the file
    /// but not listed.
    pub fn sections(&self) -> Vec<SectionId> {
        let mut first: Vec<(usize, &SectionId)> = self
            .index
            .iter()
            .map(|(id, blocks)| (blocks.as_slice()[0], id))
            .collect();
        first.sort_unstable_by_key(|&(block, _)| block);
        first.into_iter().map(|(_, id)| id.clone()).collect()
    }

    /// Sets `key` to `value` (single-line; see the module docs). An existing key is changed in
    /// place, keeping its spacing and trailing comment, and loses any sub-property lines; a
    /// new key goes after the section's last setting; a missing section is created at the end
    /// of the file. As there is no quoting, readers trim the value and cut it at a `#` or `;`
    /// that follows whitespace.
    pub fn set(&mut self, id: &SectionId, key: &str, value: &str) {
        let blocks = self.block_list(id).unwrap_or_else(|| {
            self.append_section(id, 1);
            self.block_list(id).expect("just created")
        });
        self.set_in(blocks.as_slice(), key, value);
    }

    /// The section's blocks, to edit it by [`ConfigDocument::set_in`] without looking it up
    /// again for every key.
    fn block_list(&self, id: &SectionId) -> Option<BlockList> {
        self.section(id).cloned()
    }

    /// [`ConfigDocument::set`] on the section of `blocks`. Setting keys neither adds nor
    /// drops blocks (a section's block starts with its header, which stays), so `blocks`
    /// holds for a series of sets.
    fn set_in(&mut self, blocks: &[usize], key: &str, value: &str) {
        let (key, value) = (single_line(key), single_line(value));
        check_key(key);
        let last_block = *blocks.last().expect("a section has a block");
        let mut found = self.occurrences_in(blocks, key);
        if let Some(last) = found.pop() {
            let line = &mut self.blocks[last.block].lines[last.line];
            let Kind::Property(property) = &line.kind else {
                unreachable!("key lines are properties");
            };
            let text = self.text.of(line);
            // Rewriting an equal non-empty value would give back the same text: skip the work
            // (an empty one may still lose trailing whitespace).
            if value.is_empty() || text[property.value_start..property.value_end] != *value {
                let new = replace_value(text, property, value);
                *line = self.text.push(&[&new], line.eol);
            }
            // Earlier duplicates are dead (the last one wins); dropping them keeps the file
            // saying one thing.
            let doomed = last
                .continuations
                .iter()
                .map(|&l| (last.block, l))
                .chain(found.iter().flat_map(KeyLines::all_lines))
                .collect();
            self.remove_lines(doomed);
        } else {
            // The style of the section's last setting, in its last block.
            let separator = self.blocks[last_block]
                .lines
                .iter()
                .skip(1)
                .rev()
                .find_map(|l| match &l.kind {
                    Kind::Property(p) => Some(self.text.of(l)[..p.eq].ends_with(WHITESPACE)),
                    _ => None,
                })
                .map_or(" = ", |spaced| if spaced { " = " } else { "=" });
            // An empty value is written `key =`, as `replace_value` writes it: no trailing
            // whitespace, and setting it again changes nothing.
            let line = if value.is_empty() {
                self.text
                    .push(&[key, separator.trim_end_matches(WHITESPACE)], self.eol)
            } else {
                self.text.push(&[key, separator, value], self.eol)
            };
            let at = self.content_end(last_block);
            self.insert_line(last_block, at, line);
        }
    }

    /// Removes every occurrence of `key` from the section, with its indented sub-property
    /// lines; returns whether there was one.
    pub fn remove_key(&mut self, id: &SectionId, key: &str) -> bool {
        let found = self.occurrences(id, key);
        self.remove_lines(found.iter().flat_map(KeyLines::all_lines).collect());
        !found.is_empty()
    }

    /// Sets each entry in turn (creating the section if needed), leaving other keys alone.
    pub fn upsert_section(&mut self, id: &SectionId, entries: &[(&str, &str)]) {
        let blocks = if let Some(blocks) = self.block_list(id) {
            blocks
        } else {
            self.append_section(id, entries.len());
            if !has_repeated_key(entries) {
                // What `set` would write into a new section, without looking up and scanning
                // the section for every key: populate creates thousands at once.
                self.push_new_keys(entries);
                return;
            }
            self.block_list(id).expect("just created")
        };
        for (key, value) in entries {
            self.set_in(blocks.as_slice(), key, value);
        }
    }

    /// Makes the section hold exactly `entries` (creating it at the end if needed): keys not
    /// listed are removed, listed ones set in place, so the section keeps its position and the
    /// comments between its lines.
    pub fn replace_section(&mut self, id: &SectionId, entries: &[(&str, &str)]) {
        let unlisted: Vec<String> = self
            .blocks_of(id)
            .iter()
            .flat_map(|&b| self.key_lines(b))
            .map(|k| self.key_of(&k))
            .filter(|key| {
                !entries
                    .iter()
                    .any(|(k, _)| trim(k).eq_ignore_ascii_case(key))
            })
            .map(str::to_owned)
            .collect();
        for key in unlisted {
            self.remove_key(id, &key);
        }
        self.upsert_section(id, entries);
    }

    /// Removes the section (every block with its header) and the blank lines that separated it
    /// from what follows; comments after it are kept, as they usually describe the next
    /// section. Returns whether it existed.
    pub fn remove_section(&mut self, id: &SectionId) -> bool {
        let unended = self.unended();
        let Some(took_end) = self.take_section(id) else {
            return false;
        };
        if took_end {
            // The last section went: the blank lines that separated it would now be trailing
            // clutter.
            self.trim_blank_tail();
        }
        if unended {
            self.keep_unended();
        }
        true
    }

    /// Removes the sections in `remove` (those the file has) as
    /// [`ConfigDocument::remove_section`] does, then upserts each of `append` as
    /// [`ConfigDocument::upsert_section`] does, as one edit. Unlike those calls one by one, it
    /// keeps the blank lines before a removed section that ended the file when it creates
    /// sections after them: they separate the first new one, as they separated the removed
    /// one, instead of being trimmed and replaced by a single blank line.
    pub fn remove_and_append(
        &mut self,
        remove: &[SectionId],
        append: &[(SectionId, Vec<(&str, &str)>)],
    ) {
        let unended = self.unended();
        let mut took_end = false;
        for id in remove {
            took_end |= self.take_section(id).unwrap_or(false);
        }
        // Room for the new sections at once, rather than growing as they come.
        self.blocks.reserve(append.len());
        self.index.reserve(append.len());
        let text: usize = append
            .iter()
            .map(|(_, entries)| {
                64 + entries
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 5)
                    .sum::<usize>()
            })
            .sum();
        self.text.0.reserve(text);
        let creates = append.iter().any(|(id, _)| !self.has_section(id));
        if took_end && !creates {
            self.trim_blank_tail();
        }
        for (id, entries) in append {
            self.upsert_section(id, entries);
        }
        if unended {
            self.keep_unended();
        }
    }

    /// Every line, in file order.
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.blocks.iter().flat_map(|b| &b.lines)
    }

    fn last_line(&self) -> Option<&Line> {
        // Only block 0 can be empty at the end, so this looks at one or two blocks.
        self.blocks.iter().rev().find_map(|b| b.lines.last())
    }

    /// Whether the file's last line has no line ending.
    fn unended(&self) -> bool {
        self.last_line().is_some_and(|l| l.eol == Eol::None)
    }

    /// The blocks of the section the SDKs would read for `id`:
    /// `Profile("default")` is the bare `[default]` only when there is no `[profile default]`
    /// (which wins when both exist).
    fn section(&self, id: &SectionId) -> Option<&BlockList> {
        self.index.get(id).or_else(|| match id {
            SectionId::Profile(name) if name == "default" => {
                self.index.get(&SectionId::Bare("default".to_owned()))
            }
            _ => None,
        })
    }

    fn blocks_of(&self, id: &SectionId) -> &[usize] {
        self.section(id).map_or(&[], BlockList::as_slice)
    }

    /// Adds a block at the end of the file (and to the index).
    fn push_block(&mut self, id: Option<SectionId>, lines: Vec<Line>) {
        let indexed = id.is_some();
        if let Some(id) = id {
            let block = self.blocks.len();
            self.index
                .entry(id)
                .and_modify(|blocks| blocks.push(block))
                .or_insert(BlockList::One([block]));
        }
        self.blocks.push(Block { indexed, lines });
    }

    /// One past the block's last line that is not blank or a comment (its header at least):
    /// blank lines and comments after it usually introduce the next section, so new keys go
    /// before them.
    fn content_end(&self, block: usize) -> usize {
        self.blocks[block]
            .lines
            .iter()
            .rposition(|l| !matches!(l.kind, Kind::Blank | Kind::Comment))
            .map_or(1, |idx| idx + 1)
    }

    /// The key lines of a section's block with their continuations.
    fn key_lines(&self, block: usize) -> Vec<KeyLines> {
        let mut out = Vec::new();
        self.key_lines_where(block, |_, _| true, &mut out);
        out
    }

    /// Adds to `out` the key lines of a section's block for which `wanted` holds, with their
    /// continuations. Like `aws-config`, blank lines and comments between a key and its
    /// indented lines do not end the key.
    fn key_lines_where(
        &self,
        block: usize,
        mut wanted: impl FnMut(&str, &Property) -> bool,
        out: &mut Vec<KeyLines>,
    ) {
        // The key the lines below belong to, if any, and whether it is wanted.
        let mut current = None;
        for (idx, line) in self.blocks[block].lines.iter().enumerate().skip(1) {
            match &line.kind {
                Kind::Blank | Kind::Comment => {}
                Kind::Property(p) => {
                    let keep = wanted(self.text.of(line), p);
                    if keep {
                        out.push(KeyLines {
                            block,
                            line: idx,
                            continuations: Vec::new(),
                        });
                    }
                    current = Some(keep);
                }
                Kind::Continuation if current.is_some() => {
                    if current == Some(true) {
                        out.last_mut().expect("current key").continuations.push(idx);
                    }
                }
                Kind::Continuation | Kind::Invalid | Kind::Header => current = None,
            }
        }
    }

    fn occurrences(&self, id: &SectionId, key: &str) -> Vec<KeyLines> {
        self.occurrences_in(self.blocks_of(id), key)
    }

    fn occurrences_in(&self, blocks: &[usize], key: &str) -> Vec<KeyLines> {
        let mut out = Vec::new();
        for &block in blocks {
            self.key_lines_where(block, |text, p| key_matches(text, p, key), &mut out);
        }
        out
    }

    fn key_of(&self, key_lines: &KeyLines) -> &str {
        let line = &self.blocks[key_lines.block].lines[key_lines.line];
        match &line.kind {
            Kind::Property(p) => &self.text.of(line)[..p.key_end],
            _ => "",
        }
    }

    fn value_of(&self, key_lines: &KeyLines) -> String {
        let lines = &self.blocks[key_lines.block].lines;
        let line = &lines[key_lines.line];
        let mut value = match &line.kind {
            Kind::Property(p) => self.text.of(line)[p.value_start..p.value_end].to_owned(),
            _ => String::new(),
        };
        for &idx in &key_lines.continuations {
            value.push('\n');
            value.push_str(self.text.of(&lines[idx]).trim_matches(WHITESPACE));
        }
        value
    }

    /// Appends a header for `id`, after a blank line unless the file is empty or already ends
    /// with one. Its block has room for `keys` more lines and the blank line that will
    /// separate the next section.
    fn append_section(&mut self, id: &SectionId, keys: usize) {
        let eol = self.eol;
        let mut header = self.text.push(&id.header_parts(), eol);
        let read = parse_header(self.text.of(&header));
        // Any other header would name a different section (or none), and the edit meant for
        // this one would land there: a caller bug, refused in release builds too.
        assert!(id.is_named_by(read.as_ref()), "not a section name: {id:?}");
        let tail = self.blocks.last_mut().expect("never empty");
        if let Some(last) = tail.lines.last_mut() {
            let separate = last.kind != Kind::Blank;
            if last.eol == Eol::None {
                // The old last line needs an ending now; the file keeps having no final
                // newline.
                last.eol = eol.after(self.text.of(last));
                header.eol = Eol::None;
            }
            if separate {
                tail.lines.push(self.text.push(&[], eol));
            }
        }
        let mut lines = Vec::with_capacity(keys + 2);
        lines.push(header);
        self.push_block(read, lines);
    }

    /// Writes `entries` (no key twice) into the section [`ConfigDocument::append_section`] has
    /// just started at the end of the file, as [`ConfigDocument::set`] would: one `key = value`
    /// line each, in order.
    fn push_new_keys(&mut self, entries: &[(&str, &str)]) {
        let block = self.blocks.len() - 1;
        debug_assert_eq!(self.blocks[block].lines.len(), 1, "a header alone");
        for (key, value) in entries {
            let (key, value) = (single_line(key), single_line(value));
            check_key(key);
            let at = self.content_end(block);
            let line = if value.is_empty() {
                self.text.push(&[key, " ="], self.eol)
            } else {
                self.text.push(&[key, " = ", value], self.eol)
            };
            self.insert_line(block, at, line);
        }
    }

    /// Inserts a line (of text already in `self.text`) into the block at `at`.
    fn insert_line(&mut self, block: usize, at: usize, mut new: Line) {
        let at_end = block == self.blocks.len() - 1;
        let lines = &mut self.blocks[block].lines;
        if at_end
            && at == lines.len()
            && let Some(last) = lines.last_mut()
            && last.eol == Eol::None
        {
            // The old last line needs an ending now; the file keeps having no final newline.
            last.eol = new.eol.after(self.text.of(last));
            new.eol = Eol::None;
        }
        lines.insert(at, new);
    }

    /// Removes lines given as (block, line) pairs.
    fn remove_lines(&mut self, mut doomed: Vec<(usize, usize)>) {
        if doomed.is_empty() {
            return;
        }
        let unended = self.unended();
        doomed.sort_unstable();
        doomed.dedup();
        // From the last, so that the positions still to remove hold.
        for &(block, line) in doomed.iter().rev() {
            self.blocks[block].lines.remove(line);
        }
        self.drop_empty_tail();
        if unended {
            self.keep_unended();
        }
    }

    /// Takes every block of the section out of the file and the index: its header, its
    /// settings and the blank lines after them; comments after them stay, as they usually
    /// describe what follows. `None` if there is no such section, else whether a removal ran
    /// to the end of the file.
    fn take_section(&mut self, id: &SectionId) -> Option<bool> {
        // The same lookup as `section`'s, taking the entry.
        let blocks = self.index.remove(id).or_else(|| match id {
            SectionId::Profile(name) if name == "default" => {
                self.index.remove(&SectionId::Bare("default".to_owned()))
            }
            _ => None,
        })?;
        let mut took_end = false;
        for &block in blocks.as_slice().iter().rev() {
            let mut end = self.content_end(block);
            let lines = &mut self.blocks[block].lines;
            while end < lines.len() && lines[end].kind == Kind::Blank {
                end += 1;
            }
            took_end |= end == lines.len() && block == self.blocks.len() - 1;
            let lines = &mut self.blocks[block].lines;
            lines.drain(..end);
            self.blocks[block].indexed = false;
            self.drop_empty_tail();
        }
        Some(took_end)
    }

    /// Drops the blank lines that end the file.
    fn trim_blank_tail(&mut self) {
        for block in self.blocks.iter_mut().rev() {
            while block.lines.last().is_some_and(|l| l.kind == Kind::Blank) {
                block.lines.pop();
            }
            if !block.lines.is_empty() {
                break;
            }
        }
        self.drop_empty_tail();
    }

    /// After removing lines from a file that had no final newline: an empty last line without
    /// an ending renders as nothing, so the file would end with the newline of the line before.
    /// Such lines go, and the last line keeps the file unended.
    fn keep_unended(&mut self) {
        for block in self.blocks.iter_mut().rev() {
            while block.lines.last().is_some_and(|l| l.start == l.end) {
                block.lines.pop();
            }
            if let Some(last) = block.lines.last_mut() {
                last.eol = Eol::None;
                break;
            }
        }
        self.drop_empty_tail();
    }

    /// Keeps the last block non-empty (or block 0), so that the end of the file is found at
    /// once. Only blocks without a section can be empty: a section's first line is its header.
    fn drop_empty_tail(&mut self) {
        while self.blocks.len() > 1 && self.blocks.last().is_some_and(|b| b.lines.is_empty()) {
            let dropped = self.blocks.pop();
            debug_assert!(dropped.is_some_and(|b| !b.indexed));
        }
    }
}

#[cfg(test)]
impl ConfigDocument {
    /// Panics unless the blocks and the index say what a fresh parse of the lines would: each
    /// line's kind is its text's, each header line starts a block and only there, each block of
    /// a section is indexed under the id its header reads as, and only the file's last line may
    /// lack an ending.
    fn assert_indexed(&self) {
        let last = self.blocks.last().expect("never empty");
        assert!(
            self.blocks.len() == 1 || !last.lines.is_empty(),
            "empty last block"
        );
        // The section a block's header names, if the block is indexed.
        let id_of = |block: &Block| {
            block
                .lines
                .first()
                .filter(|_| block.indexed)
                .and_then(|l| parse_header(self.text.of(l)))
        };
        for (b, block) in self.blocks.iter().enumerate() {
            for (i, line) in block.lines.iter().enumerate() {
                let text = self.text.of(line);
                assert_eq!(line.kind, classify(text), "{line:?} {text:?}");
                match (is_header(text), i) {
                    (true, 0) if b > 0 => {
                        assert_eq!(id_of(block), parse_header(text), "block {b}");
                    }
                    (true, _) => panic!("a header inside block {b}: {text:?}"),
                    (false, 0) => assert!(!block.indexed, "block {b} has no header"),
                    (false, _) => {}
                }
            }
            if let Some(id) = id_of(block) {
                assert!(
                    self.index
                        .get(&id)
                        .is_some_and(|bs| bs.as_slice().contains(&b)),
                    "{id:?} not indexed"
                );
            }
        }
        for (id, blocks) in &self.index {
            let blocks = blocks.as_slice();
            assert!(
                blocks.windows(2).all(|w| w[0] < w[1]) && !blocks.is_empty(),
                "{id:?}: {blocks:?}"
            );
            for &b in blocks {
                assert_eq!(id_of(&self.blocks[b]).as_ref(), Some(id), "block {b}");
            }
        }
        let lines: Vec<&Line> = self.lines().collect();
        if let Some((last, rest)) = lines.split_last() {
            assert!(
                rest.iter().all(|l| l.eol != Eol::None),
                "an unended line before the last"
            );
            assert!(
                last.eol != Eol::None || last.start < last.end,
                "an empty unended last line"
            );
        }
    }
}

impl KeyLines {
    /// The key line and its continuations, as (block, line) pairs.
    fn all_lines(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        std::iter::once(self.line)
            .chain(self.continuations.iter().copied())
            .map(|line| (self.block, line))
    }
}

impl fmt::Display for ConfigDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            f.write_str(self.text.of(line))?;
            f.write_str(line.eol.as_str())?;
        }
        Ok(())
    }
}

/// Errors from [`edit_file`] and [`write_atomic`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The sibling lock file could not be created or locked.
    #[error("could not lock {path} for editing: {source}; check that its directory is writable")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: crate::lock::LockError,
    },
    /// The file exists but could not be read.
    #[error("could not read {path}: {source}; check its permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not UTF-8, so it cannot be edited without changing bytes it does not own.
    #[error(
        "{path} is not valid UTF-8; keyfob will not rewrite it: fix its encoding or move it aside"
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A symlink points at nothing; replacing it with a file would detach it silently.
    #[error(
        "{path} is a symlink to {target}, which does not exist; create the target or remove the link, then run the command again"
    )]
    DanglingSymlink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// The user made the file read-only (or it lives on a read-only file system); keyfob
    /// does not replace it behind their back.
    #[error(
        "{path} is read-only; keyfob left it unchanged: make it writable (chmod u+w) or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at a writable copy"
    )]
    ReadOnly {
        /// The file (after following symlinks).
        path: PathBuf,
    },
    /// A missing parent directory could not be created.
    #[error(
        "could not create directory {path}: {source}; create it yourself or check its parent's permissions"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the new content failed; the old file is left as it was.
    #[error(
        "could not write {path}: {source}; the file was left unchanged (check free space and permissions)"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// The permission bits a written file ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An existing file keeps its bits; a new one gets these (0o600 for config, credentials
    /// and caches).
    KeepOr(u32),
    /// The file ends with exactly these bits, whatever it had: for files that hold secrets.
    Exactly(u32),
}

/// Locks `path` (an exclusive lock on the sibling file `<path>.lock` of the file a symlink at
/// `path` resolves to, created 0600), reads it (a missing file reads as empty), runs `f`, and
/// if the rendered text changed writes it back atomically (new files get mode 0600). Returns
/// `f`'s output; when `f` fails nothing is written. A dangling symlink or a read-only file is
/// an error before `f` runs, and the file is left as it was.
pub fn edit_file<R, E>(
    path: &Path,
    f: impl FnOnce(&mut ConfigDocument) -> Result<R, E>,
) -> Result<Result<R, E>, EditError> {
    let target = resolve(path)?;
    // Another keyfob (or a second login) may be editing the same file, perhaps through a
    // symlink: read-modify-write under one lock on the real file so neither loses the other's
    // change.
    let _lock = lock_for(&target)?;
    check_writable(&target)?;
    let original = match std::fs::read(&target) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| EditError::NotUtf8 {
            path: path.to_owned(),
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(EditError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut doc = ConfigDocument::parse(&original);
    let out = match f(&mut doc) {
        Ok(out) => out,
        Err(e) => return Ok(Err(e)),
    };
    let rendered = doc.render();
    if rendered != original {
        replace_locked(&target, rendered.as_bytes(), Mode::KeepOr(0o600))?;
    }
    Ok(Ok(out))
}

/// Replaces `path` with `bytes` so that readers see the old file or the new one, never a
/// mix: under the same lock as [`edit_file`], a temp file in the same directory is written,
/// fsynced and renamed over the file, then the directory is fsynced. Missing parent
/// directories are created with mode 0o700. A symlink at `path` is followed, so the file it
/// points to is replaced rather than the link; a dangling one is an error. A read-only file is
/// left alone (an error).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), EditError> {
    let target = resolve(path)?;
    let _lock = lock_for(&target)?;
    check_writable(&target)?;
    replace_locked(&target, bytes, mode)
}

/// [`write_atomic`] for a file whose own tool keeps a lock file beside it under the very name
/// [`write_atomic`] would use, and treats a leftover one as "being edited" (kubectl's
/// `<kubeconfig>.lock`, made with O_EXCL and removed after each write): the caller holds that
/// tool's lock, and no lock file of keyfob's is made or left.
pub fn write_atomic_under_foreign_lock(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
) -> Result<(), EditError> {
    let target = resolve(path)?;
    check_writable(&target)?;
    replace_locked(&target, bytes, mode)
}

/// Fails if writing `path` would replace a file the user made read-only, or follow a dangling
/// symlink: for commands that must know before their first side effect (storing a secret in
/// the keychain) that the config they will write afterwards can be written.
pub fn check_can_write(path: &Path) -> Result<(), EditError> {
    check_writable(&resolve(path)?)
}

/// The file `path` names: itself, or where its symlinks lead. A dangling symlink is an error,
/// so that a dotfile manager's link is never silently replaced by a plain file.
fn resolve(path: &Path) -> Result<PathBuf, EditError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => Ok(target),
            Err(_) => Err(EditError::DanglingSymlink {
                path: path.to_owned(),
                target: std::fs::read_link(path).unwrap_or_default(),
            }),
        },
        _ => Ok(path.to_owned()),
    }
}

/// The sibling lock of the real file (`<file>.lock`), taken for at most [`crate::lock::EDIT_WAIT`].
fn lock_for(target: &Path) -> Result<FileLock, EditError> {
    let mut lock_path = target.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|source| EditError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    FileLock::acquire(&lock_path, crate::lock::EDIT_WAIT).map_err(|source| EditError::Lock {
        path: lock_path,
        source,
    })
}

/// A file with no write bit for anyone, or one this process may not open for writing, is
/// read-only. The bits count even for root, who could write anyway: they say what the user
/// wants.
fn check_writable(target: &Path) -> Result<(), EditError> {
    let meta = match std::fs::metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(EditError::Read {
                path: target.to_owned(),
                source,
            });
        }
    };
    let read_only = meta.permissions().readonly()
        || std::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .is_err_and(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                )
            });
    if read_only {
        return Err(EditError::ReadOnly {
            path: target.to_owned(),
        });
    }
    Ok(())
}

/// The atomic replacement itself; the caller holds the file's lock.
fn replace_locked(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), EditError> {
    let write_err = |source| EditError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir).map_err(|source| EditError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let file_name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let prefix = format!(".{file_name}.");
    remove_stale_temps(&dir, &prefix);

    let final_mode = match mode {
        Mode::Exactly(bits) => bits,
        Mode::KeepOr(bits) => existing_mode(path).map_err(write_err)?.unwrap_or(bits),
    };
    // NamedTempFile deletes itself when dropped, so an error on any line below leaves no
    // temp file behind.
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(write_err)?;
    // Restrict before the first byte lands: the content may be a secret.
    set_mode(temp.as_file(), final_mode & 0o600).map_err(write_err)?;
    temp.write_all(bytes).map_err(write_err)?;
    set_mode(temp.as_file(), final_mode).map_err(write_err)?;
    temp.as_file().sync_all().map_err(write_err)?;
    temp.persist(path).map_err(|e| write_err(e.error))?;
    sync_dir(&dir).map_err(write_err)?;
    Ok(())
}

/// Removes temp files of earlier writes of this file that a crash left behind (for the
/// credentials file they hold secrets). Every writer holds the file's lock while its temp file
/// exists, so under the lock any such file is a leftover.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix)
            && name.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let result = std::fs::remove_file(entry.path());
            tracing::debug!(file = %name, ok = result.is_ok(), "removing a leftover temp file");
        }
    }
}

/// The permission bits of the file at `path`, if there is one.
#[cfg(unix)]
fn existing_mode(path: &Path) -> io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.permissions().mode() & 0o7777)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn existing_mode(_path: &Path) -> io::Result<Option<u32>> {
    Ok(None)
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    // Explicitly, not through the umask: the file may hold secrets.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Makes the rename itself durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing on Windows; NTFS journals the rename.
    Ok(())
}

impl crate::error::UserError for EditError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> SectionId {
        SectionId::Profile(name.to_owned())
    }

    fn edited(text: &str, edit: impl FnOnce(&mut ConfigDocument)) -> String {
        let mut doc = ConfigDocument::parse(text);
        edit(&mut doc);
        doc.render()
    }

    #[test]
    fn round_trips_odd_inputs() {
        for text in [
            "",
            "\n",
            "\r\n",
            "a",
            "a\r",
            "\r",
            "a\rb\n",
            "\n\n[x\n",
            "[a]\r\nk=v",
            "  \t\n;x\r\n#",
        ] {
            assert_eq!(ConfigDocument::parse(text).render(), text);
            assert_eq!(ConfigDocument::parse(text).to_string(), text);
        }
    }

    #[test]
    fn reads_values_like_aws_config() {
        let doc = ConfigDocument::parse(
            "[profile a]\nregion=eu-west-1 # where\nurl = https://x/#/start ;c\nOutput   =   json   \n\
             s3 =\n# between\n  max_concurrent_requests = 20\n\tsig = v4\nempty =\nregion = us-east-1\n",
        );
        let a = profile("a");
        assert_eq!(doc.get(&a, "region").as_deref(), Some("us-east-1"));
        assert_eq!(doc.get(&a, "URL").as_deref(), Some("https://x/#/start"));
        assert_eq!(doc.get(&a, "output").as_deref(), Some("json"));
        assert_eq!(
            doc.get(&a, "s3").as_deref(),
            Some("\nmax_concurrent_requests = 20\nsig = v4")
        );
        assert_eq!(doc.get(&a, "empty").as_deref(), Some(""));
        assert_eq!(doc.get(&a, "missing"), None);
        assert_eq!(doc.get(&profile("b"), "region"), None);
        let keys: Vec<_> = doc.keys(&a).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["region", "url", "Output", "s3", "empty"]);
    }

    #[test]
    fn lists_sections_as_written() {
        let doc = ConfigDocument::parse(
            "k=v\n[default]\n[profile a] # note\n[ profile   b ]\n[services s]\n[sso-session c]\n[profile a]\n[Credentials]\n[]\n",
        );
        assert_eq!(
            doc.sections(),
            [
                SectionId::Bare("default".into()),
                profile("a"),
                profile("b"),
                SectionId::SsoSession("c".into()),
                SectionId::Bare("Credentials".into()),
            ]
        );
    }

    #[test]
    fn set_replaces_in_place_keeping_style_and_comments() {
        let text = "# top\n[profile a]\nregion=us-east-1\noutput   =   json   # fmt\nx = ;c\ny =\nz=\n\n# next\n[profile b]\n";
        let out = edited(text, |d| {
            for (k, v) in [
                ("Region", "eu-west-1"),
                ("output", "text"),
                ("x", "1"),
                ("y", "2"),
                ("z", "3"),
            ] {
                d.set(&profile("a"), k, v);
            }
        });
        assert_eq!(
            out,
            "# top\n[profile a]\nregion=eu-west-1\noutput   =   text   # fmt\nx = 1 ;c\ny = 2\nz=3\n\n# next\n[profile b]\n"
        );
        assert_eq!(
            edited("[a]\nk = v # c\n", |d| d.set(
                &SectionId::Bare("a".into()),
                "k",
                ""
            )),
            "[a]\nk = # c\n"
        );
        assert_eq!(
            edited("[a]\nk = v\n", |d| d.set(
                &SectionId::Bare("a".into()),
                "k",
                ""
            )),
            "[a]\nk =\n"
        );
    }

    #[test]
    fn fuzz_new_key_with_empty_value_has_no_trailing_space() {
        // Found by fuzz/fuzz_targets/editor.rs: `key = ` was written, and setting it again
        // rewrote it as `key =`.
        let once = edited("[a]\nk = v\n", |d| {
            d.set(&SectionId::Bare("a".into()), "n", "");
        });
        assert_eq!(once, "[a]\nk = v\nn =\n");
        assert_eq!(
            edited(&once, |d| d.set(&SectionId::Bare("a".into()), "n", "")),
            once
        );
        assert_eq!(
            edited("", |d| d.set(&profile("a"), "k", "")),
            "[profile a]\nk =\n"
        );
    }

    #[test]
    fn fuzz_names_whose_header_reads_back_otherwise_are_not_writable() {
        // Found by fuzz/fuzz_targets/editor.rs: `set` on `Profile("le ")` passed the name
        // check, wrote `[profile le ]` (which is profile "le") and then panicked looking for
        // the section it had just created; `upsert_section` wrote that header silently.
        for name in [
            "le ",
            " le",
            "\u{a0}le",
            "le\u{2003}",
            "a#b",
            "a;b",
            "",
            "  ",
            "a\nb",
        ] {
            assert!(!profile(name).is_writable(), "{name:?}");
        }
        for name in ["x y", "profile a", "sso-session a", "services s", "a\tb"] {
            assert!(!SectionId::Bare(name.into()).is_writable(), "{name:?}");
        }
        for id in [
            profile("default"),
            profile("a b"),
            profile("dev-1.eu_x@y"),
            profile("[a"),
            profile("a]"),
            SectionId::SsoSession("corp sso".into()),
            SectionId::Bare("default".into()),
            SectionId::Bare("profile".into()),
        ] {
            assert!(id.is_writable(), "{id:?}");
            let mut doc = ConfigDocument::default();
            doc.set(&id, "k", "v");
            assert_eq!(doc.get(&id, "k").as_deref(), Some("v"), "{id:?}");
        }
        let refused = std::panic::catch_unwind(|| {
            ConfigDocument::default().upsert_section(&profile("le "), &[]);
        });
        assert!(refused.is_err());
    }

    #[test]
    fn fuzz_comment_after_a_no_break_space_stays_a_comment() {
        // Found by fuzz/fuzz_targets/editor.rs: in `k=v\u{a0}# c` the no-break space belongs
        // to the value (only space and tab are trimmed) yet makes `#` start a comment, so
        // replacing the value left `k=# c` or `k=w# c`, which read as the value `# c`/`w# c`.
        let a = SectionId::Bare("a".into());
        for (text, value, want) in [
            ("[a]\nk=v\u{a0}# c\n", "", "[a]\nk= # c\n"),
            ("[a]\nk=v\u{a0}# c\n", "w", "[a]\nk=w # c\n"),
            ("[a]\nk = v\u{a0};c\n", "w", "[a]\nk = w ;c\n"),
            ("[a]\nk = v\u{a0}# c\n", "", "[a]\nk = # c\n"),
            ("[a]\nk = v\u{a0}# c\n", "w\u{a0}", "[a]\nk = w\u{a0}# c\n"),
        ] {
            let out = edited(text, |d| d.set(&a, "k", value));
            assert_eq!(out, want, "{text:?} ← {value:?}");
            assert_eq!(
                ConfigDocument::parse(&out).get(&a, "k").as_deref(),
                Some(value),
                "{out:?}"
            );
        }
    }

    #[test]
    fn new_keys_go_after_the_last_setting_in_the_section_style() {
        let text = "[profile a]\nk=v\n# a comment inside\nj=w\n\n# about b\n[profile b]\nx = 1\n";
        let out = edited(text, |d| {
            d.set(&profile("a"), "new", "1");
            d.set(&profile("b"), "new", "2");
        });
        assert_eq!(
            out,
            "[profile a]\nk=v\n# a comment inside\nj=w\nnew=1\n\n# about b\n[profile b]\nx = 1\nnew = 2\n"
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let emptied = edited("[default]\r\nk = v", |d| {
            d.remove_key(&profile("default"), "k");
            d.set(&profile("default"), "n", "1");
        });
        assert_eq!(emptied, "[default]\r\nn = 1");
        let text = "[profile a]\r\nk = v\r\n\r\n[profile b]\r\nx = 1\r\n";
        let out = edited(text, |d| {
            d.set(&profile("a"), "k", "w");
            d.set(&profile("a"), "n", "1");
            d.set(&profile("c"), "m", "2");
        });
        assert_eq!(
            out,
            "[profile a]\r\nk = w\r\nn = 1\r\n\r\n[profile b]\r\nx = 1\r\n\r\n[profile c]\r\nm = 2\r\n"
        );
    }

    #[test]
    fn missing_final_newline_stays_missing() {
        assert_eq!(
            edited("[profile a]\nk = v", |d| d.set(&profile("a"), "n", "1")),
            "[profile a]\nk = v\nn = 1"
        );
        assert_eq!(
            edited("[profile a]\nk = v", |d| d.set(&profile("b"), "n", "1")),
            "[profile a]\nk = v\n\n[profile b]\nn = 1"
        );
        assert_eq!(
            edited("[profile a]\nk = v", |d| d.set(&profile("a"), "k", "w")),
            "[profile a]\nk = w"
        );
        assert_eq!(
            edited("[a]\nk = v\n[b]\nj = 1", |d| assert!(
                d.remove_section(&SectionId::Bare("b".into()))
            )),
            "[a]\nk = v"
        );
        assert_eq!(
            edited("[a]\nk = v\nj = 1", |d| assert!(
                d.remove_key(&SectionId::Bare("a".into()), "j")
            )),
            "[a]\nk = v"
        );
        assert_eq!(
            edited("[a]\nk =\n\n  s = 1", |d| d.set(
                &SectionId::Bare("a".into()),
                "k",
                "v"
            )),
            "[a]\nk = v"
        );
        // An empty file has no newline to miss.
        assert_eq!(
            edited("", |d| d.set(&profile("a"), "k", "v")),
            "[profile a]\nk = v\n"
        );
    }

    #[test]
    fn default_profile_matches_either_header() {
        let bare = "[default]\nregion = a\n";
        assert_eq!(
            ConfigDocument::parse(bare)
                .get(&profile("default"), "region")
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            edited(bare, |d| d.set(&profile("default"), "region", "b")),
            "[default]\nregion = b\n"
        );
        // `[profile default]` wins over `[default]` in aws-config, so it is the one edited.
        let both = "[default]\nregion = a\n\n[profile default]\nregion = p\n";
        let doc = ConfigDocument::parse(both);
        assert_eq!(doc.get(&profile("default"), "region").as_deref(), Some("p"));
        assert_eq!(
            doc.get(&SectionId::Bare("default".into()), "region")
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            edited(both, |d| assert!(d.remove_section(&profile("default")))),
            "[default]\nregion = a\n"
        );
        assert_eq!(
            edited("", |d| d.set(&profile("default"), "k", "v")),
            "[default]\nk = v\n"
        );
        assert!(
            !ConfigDocument::parse("[profile default]\n")
                .has_section(&SectionId::Bare("default".into()))
        );
    }

    #[test]
    fn sub_properties_leave_with_their_key() {
        let text = "[services s]\n[profile a]\ns3 =\n  max_concurrent_requests = 20\n# kept\n\n  addressing_style = path\nregion = x\n";
        assert_eq!(
            edited(text, |d| assert!(d.remove_key(&profile("a"), "s3"))),
            "[services s]\n[profile a]\n# kept\n\nregion = x\n"
        );
        assert_eq!(
            edited(text, |d| d.set(&profile("a"), "s3", "flat")),
            "[services s]\n[profile a]\ns3 = flat\n# kept\n\nregion = x\n"
        );
        assert!(!ConfigDocument::parse(text).remove_key(&profile("a"), "nope"));
    }

    #[test]
    fn unknown_sections_and_duplicates() {
        let text = "[services s]\ns3 =\n  endpoint_url = http://x\n[profile a]\nk = 1\n[profile a]\nk = 2\n";
        let doc = ConfigDocument::parse(text);
        assert_eq!(doc.get(&profile("a"), "k").as_deref(), Some("2"));
        // The shadowed duplicate goes, so the file says one thing.
        assert_eq!(
            edited(text, |d| d.set(&profile("a"), "k", "3")),
            "[services s]\ns3 =\n  endpoint_url = http://x\n[profile a]\n[profile a]\nk = 3\n"
        );
        assert_eq!(
            edited(text, |d| assert!(d.remove_section(&profile("a")))),
            "[services s]\ns3 =\n  endpoint_url = http://x\n"
        );
    }

    #[test]
    fn remove_section_tidies_separators_but_keeps_comments() {
        let text = "# top\n\n[a]\nx = 1\n\n[b]\ny = 2\n\n# about c\n[c]\nz = 3\n\n[d]\nw = 4\n";
        let bare = |n: &str| SectionId::Bare(n.to_owned());
        assert_eq!(
            edited(text, |d| assert!(d.remove_section(&bare("b")))),
            "# top\n\n[a]\nx = 1\n\n# about c\n[c]\nz = 3\n\n[d]\nw = 4\n"
        );
        assert_eq!(
            edited(text, |d| assert!(d.remove_section(&bare("d")))),
            "# top\n\n[a]\nx = 1\n\n[b]\ny = 2\n\n# about c\n[c]\nz = 3\n"
        );
        let all = edited(text, |d| {
            for n in ["a", "b", "c", "d"] {
                assert!(d.remove_section(&bare(n)));
            }
            assert!(!d.remove_section(&bare("a")));
        });
        assert_eq!(all, "# top\n\n# about c\n");
    }

    #[test]
    fn upsert_and_replace_keep_position() {
        let text = "[profile a]\nk = 1\n# note\nold = x\n\n[profile b]\n";
        assert_eq!(
            edited(text, |d| d
                .upsert_section(&profile("a"), &[("k", "2"), ("n", "3")])),
            "[profile a]\nk = 2\n# note\nold = x\nn = 3\n\n[profile b]\n"
        );
        let replaced = edited(text, |d| {
            d.replace_section(&profile("a"), &[("n", "3"), ("K", "2")]);
        });
        assert_eq!(
            replaced,
            "[profile a]\nk = 2\nn = 3\n# note\n\n[profile b]\n"
        );
        assert_eq!(
            ConfigDocument::parse(&replaced).keys(&profile("a")),
            [("k".into(), "2".into()), ("n".into(), "3".into())]
        );
        assert_eq!(
            edited(text, |d| d.replace_section(&profile("c"), &[])),
            format!("{text}\n[profile c]\n")
        );
        assert_eq!(
            edited(text, |d| d.upsert_section(
                &SectionId::SsoSession("s".into()),
                &[("sso_region", "eu")]
            )),
            format!("{text}\n[sso-session s]\nsso_region = eu\n")
        );
    }

    #[test]
    fn a_bare_cr_ending_the_file_stays_text_when_lines_are_added() {
        // Found by the editor fuzz target: "[s]\r" (no LF) plus a new key read back as
        // "[s]" CRLF, dropping the CR from the header line.
        let mut doc = ConfigDocument::parse("a = 1\n[profile p] ;x\r");
        doc.set(&profile("p"), "k", "v");
        assert_eq!(doc.render(), "a = 1\n[profile p] ;x\r\r\nk = v");
        let mut doc = ConfigDocument::parse("a = 1\n[profile p] ;x\r");
        doc.set(&profile("q"), "k", "v");
        assert!(
            doc.render().starts_with("a = 1\n[profile p] ;x\r\r\n"),
            "{}",
            doc.render()
        );
    }

    #[test]
    fn a_new_section_is_written_as_setting_its_keys_one_by_one() {
        let entries: &[&[(&str, &str)]] = &[
            &[],
            &[("k", "1")],
            &[("k", "1"), ("n", ""), ("url", "https://h/#/x")],
            // A repeated key is set twice: the last value wins, in the first one's place.
            &[("k", "1"), ("n", "2"), ("K", "3")],
        ];
        for text in [
            "",
            "# top",
            "[profile a]\nk = 1",
            "[a]\r\nk=1\r\n",
            "[a]\n\n",
        ] {
            for &entries in entries {
                for id in [
                    profile("new"),
                    profile("default"),
                    SectionId::Bare("a".into()),
                ] {
                    let one_by_one = edited(text, |d| {
                        if !d.has_section(&id) {
                            d.append_section(&id, entries.len());
                        }
                        for (k, v) in entries {
                            d.set(&id, k, v);
                        }
                    });
                    let at_once = edited(text, |d| {
                        d.upsert_section(&id, entries);
                        d.assert_indexed();
                    });
                    assert_eq!(at_once, one_by_one, "{text:?} {id:?} {entries:?}");
                }
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "single-line")]
    fn multi_line_values_are_a_caller_bug() {
        ConfigDocument::default().set(&profile("a"), "k", "v\n[profile evil]");
    }

    #[test]
    fn edit_file_creates_private_file_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join(".aws").join("config");
        let out = edit_file(&path, |d| {
            d.set(&profile("a"), "k", "v");
            Ok::<_, ()>(7)
        });
        assert_eq!(out.unwrap(), Ok(7));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[profile a]\nk = v\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(&dir.path().join("new")), 0o700);
            assert_eq!(mode(&dir.path().join("new/.aws/config.lock")), 0o600);
        }
        // Only the file and its lock: no temp file left behind.
        let mut names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["config", "config.lock"]);
    }

    #[cfg(unix)]
    #[test]
    fn edit_file_keeps_existing_mode_and_follows_symlinks() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles-config");
        std::fs::write(&real, "[profile a]\nk = v\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        edit_file(&link, |d| {
            d.set(&profile("a"), "k", "w");
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "[profile a]\nk = w\n"
        );
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn edit_file_writes_nothing_on_error_or_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let out = edit_file(&path, |d| {
            d.set(&profile("a"), "k", "v");
            Err::<(), _>("nope")
        });
        assert_eq!(out.unwrap(), Err("nope"));
        assert!(!path.exists());
        edit_file(&path, |d| Ok::<_, ()>(d.remove_section(&profile("a"))))
            .unwrap()
            .unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn edit_file_refuses_non_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, b"[default]\nk = \xff\n").unwrap();
        let err = edit_file(&path, |_| Ok::<_, ()>(())).unwrap_err();
        assert!(
            matches!(&err, EditError::NotUtf8 { path: p } if *p == path),
            "{err:?}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn concurrent_edits_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        edit_file(&path, |d| {
                            let n: u32 = d
                                .get(&profile("count"), "n")
                                .map_or(0, |v| v.parse().unwrap());
                            d.set(&profile("count"), "n", &(n + 1).to_string());
                            d.set(&profile("keys"), &format!("k{t}_{i}"), "1");
                            Ok::<_, ()>(())
                        })
                        .unwrap()
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let doc = ConfigDocument::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(doc.get(&profile("count"), "n").as_deref(), Some("100"));
        assert_eq!(doc.keys(&profile("keys")).len(), 100);
    }

    #[cfg(unix)]
    #[test]
    fn edits_through_a_symlink_and_its_target_share_one_lock() {
        // Issue 8 point 7: 20 writers through a link plus 20 through its target kept only 26
        // of 40 profiles when each path had its own lock.
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real-config");
        std::fs::write(&real, "").unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let threads: Vec<_> = (0..40)
            .map(|i| {
                let path = if i % 2 == 0 {
                    link.clone()
                } else {
                    real.clone()
                };
                std::thread::spawn(move || {
                    edit_file(&path, |d| {
                        d.set(&profile(&format!("p{i}")), "region", "eu-west-1");
                        Ok::<_, ()>(())
                    })
                    .unwrap()
                    .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let doc = ConfigDocument::parse(&std::fs::read_to_string(&real).unwrap());
        assert_eq!(doc.sections().len(), 40);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_an_error_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("config");
        let gone = dir.path().join("dotfiles/aws-config");
        std::os::unix::fs::symlink(&gone, &link).unwrap();
        let err = edit_file(&link, |d| {
            d.set(&profile("a"), "k", "v");
            Ok::<_, ()>(())
        })
        .unwrap_err();
        assert!(
            matches!(&err, EditError::DanglingSymlink { target, .. } if *target == gone),
            "{err:?}"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!gone.exists());
        let err = write_atomic(&link, b"x", Mode::Exactly(0o600)).unwrap_err();
        assert!(matches!(err, EditError::DanglingSymlink { .. }), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_left_alone() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("store-config");
        let text = "# managed elsewhere\n[profile a]\nk = v\n";
        std::fs::write(&real, text).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        for path in [&real, &link] {
            let err = edit_file(path, |d| {
                d.set(&profile("b"), "k", "v");
                Ok::<_, ()>(())
            })
            .unwrap_err();
            assert!(
                matches!(&err, EditError::ReadOnly { path } if *path == real),
                "{err:?}"
            );
            assert!(!err.to_string().contains('\n'));
            assert!(matches!(
                check_can_write(path),
                Err(EditError::ReadOnly { .. })
            ));
        }
        assert_eq!(std::fs::read_to_string(&real).unwrap(), text);
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }

    #[test]
    fn leftover_temp_files_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let leftover = dir.path().join(".credentials.AbC123.tmp");
        std::fs::write(&leftover, "[x]\naws_secret_access_key = left-by-a-crash\n").unwrap();
        let unrelated = dir.path().join(".config.XyZ789.tmp");
        std::fs::write(&unrelated, "").unwrap();
        edit_file(&path, |d| {
            d.set(&SectionId::Bare("a".into()), "k", "v");
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        assert!(!leftover.exists());
        assert!(
            unrelated.exists(),
            "another file's temp files are not this write's"
        );
    }

    #[cfg(unix)]
    #[test]
    fn exact_mode_tightens_an_existing_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.env");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"secret", Mode::Exactly(0o600)).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_atomic(&path, b"secret2", Mode::KeepOr(0o644)).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    /// Generated files checked against `aws-config`'s own reading of them.
    mod generated {
        use super::super::*;
        use aws_config::profile::ProfileSet;
        use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
        use aws_types::os_shim_internal::{Env, Fs};
        use proptest::prelude::*;
        use proptest::sample::Index;
        use std::collections::HashMap;
        use std::fmt::Write as _;

        const KEYS: &[&str] = &[
            "region",
            "output",
            "sso_start_url",
            "role_arn",
            "s3",
            "Region",
            "k-1",
        ];
        const CONFIG_PATH: &str = "/cfg/config";

        #[derive(Debug, Clone, PartialEq, Eq)]
        enum GenId {
            Known(SectionId),
            Services(String),
        }

        #[derive(Debug, Clone)]
        enum Item {
            /// `key`, `value`, line style, trailing comment, sub-properties each with an
            /// optional comment line before it.
            Key(
                usize,
                String,
                usize,
                Option<String>,
                Vec<(String, String, Option<String>)>,
            ),
            Line(String),
        }

        #[derive(Debug, Clone)]
        struct GenSection {
            id: GenId,
            header_style: usize,
            header_comment: Option<String>,
            items: Vec<Item>,
            trailing: Vec<String>,
        }

        #[derive(Debug, Clone)]
        struct GenFile {
            preamble: Vec<String>,
            sections: Vec<GenSection>,
            crlf: bool,
            final_newline: bool,
        }

        /// A section as aws-config should see it.
        #[derive(Debug, Clone)]
        struct ModelSection {
            id: GenId,
            header: String,
            entries: Vec<(String, String)>,
        }

        #[derive(Debug, Clone)]
        enum Edit {
            Set(String, String),
            RemoveKey(String),
            Upsert(Vec<(String, String)>),
            Replace(Vec<(String, String)>),
            RemoveSection,
        }

        fn id_strategy() -> impl Strategy<Value = GenId> {
            let name = || {
                prop::sample::select(vec!["default", "a", "dev-1", "prod.eu", "x_y"])
                    .prop_map(str::to_owned)
            };
            prop_oneof![
                3 => name().prop_map(|n| GenId::Known(SectionId::Profile(n))),
                1 => name().prop_map(|n| GenId::Known(SectionId::SsoSession(n))),
                1 => name().prop_map(|n| GenId::Known(SectionId::Bare(n))),
                1 => name().prop_map(GenId::Services),
            ]
        }

        fn comment() -> impl Strategy<Value = String> {
            "[#;][ A-Za-z0-9=#;._\\[\\]-]{0,12}"
        }

        fn value() -> impl Strategy<Value = String> {
            "[A-Za-z0-9_./:-]{1,10}"
        }

        fn filler() -> impl Strategy<Value = String> {
            prop_oneof![
                comment(),
                prop::sample::select(vec!["", "  ", "\t"]).prop_map(str::to_owned)
            ]
        }

        fn item() -> impl Strategy<Value = Item> {
            let sub = (
                "[a-z_]{1,8}",
                value(),
                prop::option::weighted(0.2, filler()),
            );
            prop_oneof![
                3 => (
                    0..KEYS.len(),
                    value(),
                    0..4usize,
                    prop::option::weighted(0.3, prop_oneof![comment().prop_map(|c| format!(" {c}")), comment().prop_map(|c| format!("\t{c}"))]),
                    prop::collection::vec(sub, 0..3),
                )
                    .prop_map(|(k, v, s, c, subs)| Item::Key(k, v, s, c, subs)),
                1 => filler().prop_map(Item::Line),
            ]
        }

        fn section() -> impl Strategy<Value = GenSection> {
            (
                id_strategy(),
                0..3usize,
                prop::option::weighted(0.2, comment()),
                prop::collection::vec(item(), 0..6),
                prop::collection::vec(filler(), 0..3),
            )
                .prop_map(|(id, header_style, header_comment, items, trailing)| {
                    GenSection {
                        id,
                        header_style,
                        header_comment,
                        items,
                        trailing,
                    }
                })
        }

        fn file() -> impl Strategy<Value = GenFile> {
            (
                prop::collection::vec(filler(), 0..3),
                prop::collection::vec(section(), 0..6),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(preamble, mut sections, crlf, final_newline)| {
                    let mut seen = Vec::new();
                    sections.retain(|s| {
                        let new = !seen.contains(&s.id);
                        seen.push(s.id.clone());
                        new
                    });
                    GenFile {
                        preamble,
                        sections,
                        crlf,
                        final_newline,
                    }
                })
        }

        fn target() -> impl Strategy<Value = Result<Index, SectionId>> {
            prop_oneof![
                3 => any::<Index>().prop_map(Ok),
                1 => prop::sample::select(vec![
                    SectionId::Profile("fresh".into()),
                    SectionId::Profile("default".into()),
                    SectionId::SsoSession("fresh-s".into()),
                    SectionId::Bare("fresh-b".into()),
                ])
                .prop_map(Err),
            ]
        }

        fn edit() -> impl Strategy<Value = Edit> {
            let key = || prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned);
            let entries = move || prop::collection::vec((key(), value()), 0..4);
            prop_oneof![
                3 => (key(), value()).prop_map(|(k, v)| Edit::Set(k, v)),
                1 => key().prop_map(Edit::RemoveKey),
                1 => entries().prop_map(Edit::Upsert),
                1 => entries().prop_map(Edit::Replace),
                1 => Just(Edit::RemoveSection),
            ]
        }

        /// Renders the file and the model of what it holds.
        fn render(file: &GenFile) -> (String, Vec<ModelSection>) {
            let mut lines: Vec<String> = file.preamble.clone();
            let mut model = Vec::new();
            for s in &file.sections {
                let (prefix, name) = match &s.id {
                    GenId::Known(SectionId::Profile(n)) => ("profile", n),
                    GenId::Known(SectionId::SsoSession(n)) => ("sso-session", n),
                    GenId::Known(SectionId::Bare(n)) => ("", n),
                    GenId::Services(n) => ("services", n),
                };
                let inner = match (s.header_style, prefix) {
                    (_, "") => name.clone(),
                    (1, _) => format!("{prefix}   {name}"),
                    (2, _) => format!(" {prefix} {name} "),
                    _ => format!("{prefix} {name}"),
                };
                let comment = s
                    .header_comment
                    .as_ref()
                    .map_or(String::new(), |c| format!(" {c}"));
                let header = format!("[{inner}]{comment}");
                lines.push(header.clone());
                let mut entries: Vec<(String, String)> = Vec::new();
                for item in &s.items {
                    match item {
                        Item::Line(l) => lines.push(l.clone()),
                        Item::Key(k, v, style, comment, subs) => {
                            let key = KEYS[*k];
                            if entries.iter().any(|(e, _)| e.eq_ignore_ascii_case(key)) {
                                continue;
                            }
                            let v = if subs.is_empty() { v.as_str() } else { "" };
                            let mut line = match style {
                                1 => format!("{key}={v}"),
                                2 => format!("{key}   =   {v}"),
                                3 => format!("{key} = {v}   "),
                                _ => format!("{key} = {v}"),
                            };
                            line.push_str(comment.as_deref().unwrap_or_default());
                            lines.push(line.trim_end().to_owned());
                            let mut value = v.to_owned();
                            for (i, (sk, sv, before)) in subs.iter().enumerate() {
                                lines.extend(before.clone());
                                let indent = ["  ", "\t", "    "][i % 3];
                                lines.push(format!("{indent}{sk} = {sv}"));
                                let _ = write!(value, "\n{sk} = {sv}");
                            }
                            entries.push((key.to_ascii_lowercase(), value));
                        }
                    }
                }
                lines.extend(s.trailing.iter().cloned());
                model.push(ModelSection {
                    id: s.id.clone(),
                    header,
                    entries,
                });
            }
            let eol = if file.crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if file.final_newline && !lines.is_empty() {
                text.push_str(eol);
            }
            (text, model)
        }

        fn resolve(model: &[ModelSection], id: &SectionId) -> Option<usize> {
            let find = |want: &SectionId| {
                model
                    .iter()
                    .position(|s| s.id == GenId::Known(want.clone()))
            };
            find(id).or_else(|| match id {
                SectionId::Profile(n) if n == "default" => find(&SectionId::Bare("default".into())),
                _ => None,
            })
        }

        fn set_entry(entries: &mut Vec<(String, String)>, key: &str, value: &str) {
            let key = key.to_ascii_lowercase();
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(e) => e.1 = value.to_owned(),
                None => entries.push((key, value.to_owned())),
            }
        }

        fn apply_to_model(model: &mut Vec<ModelSection>, id: &SectionId, edit: &Edit) {
            let ensure = |model: &mut Vec<ModelSection>| {
                resolve(model, id).unwrap_or_else(|| {
                    let written = match id {
                        SectionId::Profile(n) if n == "default" => {
                            SectionId::Bare("default".into())
                        }
                        other => other.clone(),
                    };
                    model.push(ModelSection {
                        id: GenId::Known(written),
                        header: id.header_parts().concat(),
                        entries: Vec::new(),
                    });
                    model.len() - 1
                })
            };
            match edit {
                Edit::Set(k, v) => {
                    let i = ensure(model);
                    set_entry(&mut model[i].entries, k, v);
                }
                Edit::RemoveKey(k) => {
                    if let Some(i) = resolve(model, id) {
                        model[i].entries.retain(|(e, _)| !e.eq_ignore_ascii_case(k));
                    }
                }
                Edit::Upsert(entries) | Edit::Replace(entries) => {
                    let i = ensure(model);
                    if matches!(edit, Edit::Replace(_)) {
                        model[i].entries.clear();
                    }
                    for (k, v) in entries {
                        set_entry(&mut model[i].entries, k, v);
                    }
                }
                Edit::RemoveSection => {
                    if let Some(i) = resolve(model, id) {
                        model.remove(i);
                    }
                }
            }
        }

        fn apply_to_doc(doc: &mut ConfigDocument, id: &SectionId, edit: &Edit) {
            let pairs =
                |entries: &[(String, String)]| -> Vec<(String, String)> { entries.to_vec() };
            match edit {
                Edit::Set(k, v) => doc.set(id, k, v),
                Edit::RemoveKey(k) => {
                    doc.remove_key(id, k);
                }
                Edit::Upsert(e) | Edit::Replace(e) => {
                    let owned = pairs(e);
                    let borrowed: Vec<(&str, &str)> = owned
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    if matches!(edit, Edit::Replace(_)) {
                        doc.replace_section(id, &borrowed);
                    } else {
                        doc.upsert_section(id, &borrowed);
                    }
                }
                Edit::RemoveSection => {
                    doc.remove_section(id);
                }
            }
        }

        fn aws_parse(text: &str) -> ProfileSet {
            let fs = Fs::from_map(HashMap::from([(
                CONFIG_PATH.to_owned(),
                text.as_bytes().to_vec(),
            )]));
            let env = Env::from_slice(&[("AWS_CONFIG_FILE", CONFIG_PATH), ("HOME", "/home")]);
            futures::executor::block_on(aws_config::profile::load(
                &fs,
                &env,
                &ProfileFiles::default(),
                None,
            ))
            .unwrap_or_else(|e| panic!("aws-config rejected the file: {e}\n{text}"))
        }

        /// What aws-config must report for the model, compared key by key.
        fn assert_matches_model(set: &ProfileSet, model: &[ModelSection], text: &str) {
            let mut profiles: HashMap<String, &ModelSection> = HashMap::new();
            let mut sessions: HashMap<String, &ModelSection> = HashMap::new();
            let has_profile_default = model
                .iter()
                .any(|s| s.id == GenId::Known(SectionId::Profile("default".into())));
            for s in model {
                match &s.id {
                    GenId::Known(SectionId::Profile(n)) => {
                        profiles.insert(n.clone(), s);
                    }
                    GenId::Known(SectionId::Bare(n)) if n == "default" && !has_profile_default => {
                        profiles.insert(n.clone(), s);
                    }
                    GenId::Known(SectionId::SsoSession(n)) => {
                        sessions.insert(n.clone(), s);
                    }
                    _ => {}
                }
            }
            let mut got: Vec<&str> = set.profiles().collect();
            got.sort_unstable();
            let mut want: Vec<&str> = profiles.keys().map(String::as_str).collect();
            want.sort_unstable();
            assert_eq!(got, want, "profiles of\n{text}");
            let mut got: Vec<&str> = set.sso_sessions().collect();
            got.sort_unstable();
            let mut want: Vec<&str> = sessions.keys().map(String::as_str).collect();
            want.sort_unstable();
            assert_eq!(got, want, "sso-sessions of\n{text}");
            let expected = |s: &ModelSection, key: &str| {
                s.entries
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
            };
            for (name, s) in &profiles {
                let p = set.get_profile(name).unwrap();
                for key in KEYS {
                    assert_eq!(
                        p.get(key).map(str::to_owned),
                        expected(s, key),
                        "{name}.{key} in\n{text}"
                    );
                }
            }
            for (name, s) in &sessions {
                let p = set.sso_session(name).unwrap();
                for key in KEYS {
                    assert_eq!(
                        p.get(key).map(str::to_owned),
                        expected(s, key),
                        "sso {name}.{key} in\n{text}"
                    );
                }
            }
        }

        /// The file cut at its header lines: `(header line, text up to the next header)`.
        fn chunks(text: &str) -> Vec<(Option<String>, String)> {
            let mut out: Vec<(Option<String>, String)> = vec![(None, String::new())];
            for line in text.split_inclusive('\n') {
                if line.starts_with('[') {
                    out.push((
                        Some(line.trim_end_matches(['\r', '\n']).to_owned()),
                        String::new(),
                    ));
                }
                out.last_mut().unwrap().1.push_str(line);
            }
            out
        }

        fn known_ids(model: &[ModelSection]) -> Vec<SectionId> {
            model
                .iter()
                .filter_map(|s| match &s.id {
                    GenId::Known(id) => Some(id.clone()),
                    GenId::Services(_) => None,
                })
                .collect()
        }

        fn check_edit(
            file: &GenFile,
            target: Result<Index, SectionId>,
            edit: &Edit,
        ) -> Result<(), TestCaseError> {
            let (before, mut model) = render(file);
            let before_set = aws_parse(&before);
            assert_matches_model(&before_set, &model, &before);

            let known = known_ids(&model);
            let id = match target {
                Ok(i) if !known.is_empty() => i.get(&known).clone(),
                Ok(_) => SectionId::Profile("fresh".into()),
                Err(id) => id,
            };
            let target_idx = resolve(&model, &id);
            let target_header = target_idx.map(|i| model[i].header.clone());
            let creates =
                target_idx.is_none() && !matches!(*edit, Edit::RemoveKey(_) | Edit::RemoveSection);

            let mut doc = ConfigDocument::parse(&before);
            prop_assert_eq!(doc.render(), before.clone());
            apply_to_doc(&mut doc, &id, edit);
            apply_to_model(&mut model, &id, edit);
            let after = doc.render();

            // aws-config reads exactly the intended result, and the editor agrees.
            let after_set = aws_parse(&after);
            assert_matches_model(&after_set, &model, &after);
            prop_assert_eq!(after_set.other_sections(), before_set.other_sections());
            prop_assert_eq!(doc.sections(), known_ids(&model));
            if let Some(i) = resolve(&model, &id) {
                for key in KEYS {
                    let want = model[i]
                        .entries
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(key))
                        .map(|(_, v)| v.clone());
                    prop_assert_eq!(doc.get(&id, key), want);
                }
            }

            // Line endings and the final newline follow the file.
            if file.crlf && before.contains('\n') {
                prop_assert!(
                    !after.replace("\r\n", "").contains('\n'),
                    "LF in a CRLF file:\n{:?}",
                    after
                );
            } else {
                prop_assert!(!after.contains('\r'));
            }
            if !before.is_empty() && !after.is_empty() {
                prop_assert_eq!(before.ends_with('\n'), after.ends_with('\n'));
            }

            // Every other section is byte for byte what it was. Creating a section may
            // end the last line; removing one may take the blank lines before it.
            let before_chunks = chunks(&before);
            let after_chunks = chunks(&after);
            let target_pos = before_chunks
                .iter()
                .position(|(h, _)| h.is_some() && *h == target_header);
            let tolerant = match (edit, target_pos) {
                (Edit::RemoveSection, Some(pos)) => Some(pos - 1),
                _ if creates => Some(before_chunks.len() - 1),
                _ => None,
            };
            let trimmed = |s: &str| s.trim_end_matches(['\r', '\n', ' ', '\t']).to_owned();
            let comments = |t: &str| {
                t.lines()
                    .filter(|l| l.starts_with(['#', ';']))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            for (pos, (header, text)) in before_chunks.iter().enumerate() {
                if Some(pos) == target_pos {
                    if !matches!(*edit, Edit::RemoveSection) {
                        let after_text = &after_chunks.iter().find(|(h, _)| h == header).unwrap().1;
                        prop_assert_eq!(comments(text), comments(after_text));
                    }
                    continue;
                }
                let after_text = &after_chunks.iter().find(|(h, _)| h == header).unwrap().1;
                if Some(pos) == tolerant && matches!(*edit, Edit::RemoveSection) {
                    // The removed section's closing comments stay (they usually introduce
                    // what follows), so they now end the section before it.
                    let kept = trimmed(text);
                    prop_assert!(
                        after_text.starts_with(&kept),
                        "{:?} lost from {:?}",
                        kept,
                        after_text
                    );
                    let moved = comments(&after_text[kept.len()..]);
                    let target_comments = comments(&before_chunks[pos + 1].1);
                    prop_assert!(
                        target_comments.ends_with(&moved),
                        "{:?} not from {:?}",
                        moved,
                        target_comments
                    );
                } else if Some(pos) == tolerant {
                    prop_assert_eq!(trimmed(text), trimmed(after_text));
                } else {
                    prop_assert_eq!(text, after_text);
                }
            }
            let expected_chunks = before_chunks.len() + usize::from(creates)
                - usize::from(matches!(*edit, Edit::RemoveSection) && target_pos.is_some());
            prop_assert_eq!(after_chunks.len(), expected_chunks);
            Ok(())
        }

        /// One step of an edit sequence: an edit, or a `remove_and_append`. Targets are picked
        /// among the sections the file has when the step runs (or are new).
        #[derive(Debug, Clone)]
        enum Step {
            Edit(Target, Edit),
            Batch(Vec<Target>, Vec<(Target, Vec<(String, String)>)>),
        }

        /// A section the file has (by position) or a new one.
        type Target = Result<Index, SectionId>;

        fn step() -> impl Strategy<Value = Step> {
            let entries = || {
                prop::collection::vec(
                    (
                        prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                        value(),
                    ),
                    0..4,
                )
            };
            prop_oneof![
                4 => (target(), edit()).prop_map(|(t, e)| Step::Edit(t, e)),
                1 => (
                    prop::collection::vec(target(), 0..4),
                    prop::collection::vec((target(), entries()), 0..3),
                )
                    .prop_map(|(remove, append)| Step::Batch(remove, append)),
            ]
        }

        fn pick(doc: &ConfigDocument, target: &Target) -> SectionId {
            let known = doc.sections();
            match target {
                Ok(i) if !known.is_empty() => i.get(&known).clone(),
                Ok(_) => SectionId::Profile("fresh".into()),
                Err(id) => id.clone(),
            }
        }

        fn apply_step(doc: &mut ConfigDocument, step: &Step) {
            match step {
                Step::Edit(target, edit) => {
                    let id = pick(doc, target);
                    apply_to_doc(doc, &id, edit);
                }
                Step::Batch(remove, append) => {
                    let remove: Vec<SectionId> = remove.iter().map(|t| pick(doc, t)).collect();
                    let append: Vec<(SectionId, Vec<(&str, &str)>)> = append
                        .iter()
                        .map(|(t, entries)| {
                            let entries = entries
                                .iter()
                                .map(|(k, v)| (k.as_str(), v.as_str()))
                                .collect();
                            (pick(doc, t), entries)
                        })
                        .collect();
                    doc.remove_and_append(&remove, &append);
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// The index is built once and then kept by each edit: after every step of a
            /// random sequence the document must render, and read, exactly as a fresh parse
            /// of the text before the step given the same edit.
            #[test]
            fn the_index_never_drifts_from_the_lines(
                file in file(),
                steps in prop::collection::vec(step(), 1..12),
            ) {
                let (text, _) = render(&file);
                let mut doc = ConfigDocument::parse(&text);
                doc.assert_indexed();
                for step in &steps {
                    let before = doc.render();
                    let mut fresh = ConfigDocument::parse(&before);
                    // The ending of new lines is the original file's, even once edits removed
                    // every line that showed it: not something the text can say.
                    fresh.eol = doc.eol;
                    prop_assert_eq!(doc.sections(), fresh.sections());
                    apply_step(&mut fresh, step);
                    apply_step(&mut doc, step);
                    doc.assert_indexed();
                    prop_assert_eq!(doc.render(), fresh.render(), "{:?} on {:?}", step, before);
                    let sections = fresh.sections();
                    prop_assert_eq!(&doc.sections(), &sections);
                    for id in &sections {
                        prop_assert_eq!(doc.keys(id), fresh.keys(id), "{:?}", id);
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn edits_touch_only_their_section(file in file(), target in target(), edit in edit()) {
                check_edit(&file, target, &edit)?;
            }
        }
    }
}
