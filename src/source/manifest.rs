//! The record of what strata wrote into `tree/`, so the next export knows what it may delete or skip.
//!
//! Format: a header line `strata-export 1`, then one record per path, each terminated by NUL because Git
//! paths may contain newlines: `<kind> <hex id> <size> <mtime ns>\t<path bytes>`. `kind` is `f` (file),
//! `x` (executable) or `l` (symlink); size and mtime are those of the file in `tree/` right after writing.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};

const HEADER: &str = "strata-export 1\n";

/// What kind of file an entry is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Executable,
    Symlink,
}

impl Kind {
    fn code(self) -> char {
        match self {
            Kind::File => 'f',
            Kind::Executable => 'x',
            Kind::Symlink => 'l',
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "f" => Some(Kind::File),
            "x" => Some(Kind::Executable),
            "l" => Some(Kind::Symlink),
            _ => None,
        }
    }
}

/// One path strata wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub kind: Kind,
    /// The blob id of the content; the null id marks a write in progress, which never counts as up to date.
    pub id: ObjectId,
    pub size: u64,
    pub mtime_ns: u128,
}

/// Paths relative to `tree/`, `/`-separated, as in Git.
pub(super) type Manifest = BTreeMap<BString, Record>;

/// Read the manifest; `Ok(None)` if there is none yet.
pub(super) fn load(path: &Path) -> io::Result<Option<Manifest>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    parse(&bytes).map(Some).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "not a strata export manifest (unknown header or malformed record)",
        )
    })
}

fn parse(bytes: &[u8]) -> Option<Manifest> {
    let body = bytes.strip_prefix(HEADER.as_bytes())?;
    let mut manifest = Manifest::new();
    for record in body.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = record.find_byte(b'\t')?;
        let fields = record[..tab].to_str().ok()?;
        let mut fields = fields.split(' ');
        let kind = Kind::from_code(fields.next()?)?;
        let id = ObjectId::from_hex(fields.next()?.as_bytes()).ok()?;
        let size = fields.next()?.parse().ok()?;
        let mtime_ns = fields.next()?.parse().ok()?;
        if fields.next().is_some() {
            return None;
        }
        manifest.insert(
            record[tab + 1..].into(),
            Record {
                kind,
                id,
                size,
                mtime_ns,
            },
        );
    }
    Some(manifest)
}

/// Replace the manifest atomically, so a crash leaves either the old or the new one.
pub(super) fn store(path: &Path, manifest: &Manifest) -> io::Result<()> {
    let mut out = Vec::with_capacity(HEADER.len() + manifest.len() * 80);
    out.extend_from_slice(HEADER.as_bytes());
    for (rela_path, r) in manifest {
        write!(
            out,
            "{} {} {} {}\t",
            r.kind.code(),
            r.id,
            r.size,
            r.mtime_ns
        )?;
        out.extend_from_slice(rela_path);
        out.push(0);
    }
    let tmp = path.with_extension("manifest.tmp");
    std::fs::write(&tmp, &out)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_odd_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.manifest");
        let mut m = Manifest::new();
        let id = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        for (p, kind) in [
            ("a b\tc\nd", Kind::File),
            ("bin/run", Kind::Executable),
            ("l", Kind::Symlink),
        ] {
            m.insert(
                p.into(),
                Record {
                    kind,
                    id,
                    size: 7,
                    mtime_ns: 1_700_000_000_123_456_789,
                },
            );
        }
        store(&path, &m).unwrap();
        assert_eq!(load(&path).unwrap(), Some(m));
        assert_eq!(load(&dir.path().join("missing")).unwrap(), None);
        std::fs::write(&path, "garbage").unwrap();
        assert!(load(&path).is_err());
    }
}
