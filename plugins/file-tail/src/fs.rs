//! The few filesystem calls the tailer needs, behind a trait: the component
//! uses WASI 0.2's `wasi:filesystem` (through the `wasip2` bindings), the
//! native unit tests use `std::fs` on a temporary directory.
//!
//! A file's identity is WASI's `descriptor.metadata-hash`: a 128-bit hash of
//! the device and inode, the same for an open file as for a path that names
//! it, and unchanged by a rename. An open descriptor keeps reading the file
//! it was opened on after the name moves (rename-and-create rotation).

use std::fmt;

/// Identity of a file (device and inode, hashed), stable across renames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u128);

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FileId {
    /// Parses the 32 hex digits [`Display`](fmt::Display) writes.
    pub fn parse(text: &str) -> Option<FileId> {
        (text.len() == 32)
            .then(|| u128::from_str_radix(text, 16).ok())
            .flatten()
            .map(FileId)
    }
}

/// A failed filesystem call, with the path it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsError {
    /// The path (guest side).
    pub path: String,
    /// What went wrong.
    pub message: String,
    /// The path does not exist (a file rotated away between two calls).
    pub not_found: bool,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What the tailer asks of a filesystem. Names are relative to the watched
/// directory.
pub trait Fs {
    /// An open, readable file.
    type File;

    /// Names of the regular files in the directory.
    fn list(&self) -> Result<Vec<String>, FsError>;

    /// Opens `name` for reading.
    fn open(&self, name: &str) -> Result<Self::File, FsError>;

    /// The identity of an open file.
    fn identity(&self, file: &Self::File) -> Result<FileId, FsError>;

    /// The identity of the file `name` names now, without opening it.
    fn identity_of(&self, name: &str) -> Result<FileId, FsError>;

    /// The current size of an open file.
    fn size(&self, file: &Self::File) -> Result<u64, FsError>;

    /// Reads up to `len` bytes at `offset`, appending them to `buf`; returns
    /// how many were read (0 at the end of the file).
    fn read_at(
        &self,
        file: &Self::File,
        offset: u64,
        len: usize,
        buf: &mut Vec<u8>,
    ) -> Result<usize, FsError>;
}

/// Splits a guest path such as `/logs/app-*.log` into its directory and
/// file-name pattern. The directory must be absolute; the pattern has no `/`.
pub fn split_path(path: &str) -> Result<(&str, &str), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "`path` must be absolute inside a granted directory (e.g. /logs/app.log), got `{path}`"
        ));
    }
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if name.is_empty() {
        return Err(format!(
            "`path` names a directory (`{path}`); add a file name or a pattern such as `*.log`"
        ));
    }
    if dir.contains(['*', '?', '[']) {
        return Err(format!(
            "`path`: only the file name may hold a pattern (`*`, `?`), not the directory (`{dir}`)"
        ));
    }
    Ok((if dir.is_empty() { "/" } else { dir }, name))
}

#[cfg(target_arch = "wasm32")]
pub use wasi::WasiDir;

/// The component's filesystem: a directory under one of the preopened
/// (granted) directories, read through `wasi:filesystem`.
#[cfg(target_arch = "wasm32")]
mod wasi {
    use wasip2::filesystem::preopens::get_directories;
    use wasip2::filesystem::types::{
        Descriptor, DescriptorFlags, DescriptorType, ErrorCode, OpenFlags, PathFlags,
    };

    use super::{FileId, Fs, FsError};

    /// The watched directory.
    pub struct WasiDir {
        dir: Descriptor,
        /// The directory's guest path, for messages.
        path: String,
    }

    fn error(path: &str, code: ErrorCode) -> FsError {
        FsError {
            path: path.to_string(),
            message: code.message().to_string(),
            not_found: matches!(code, ErrorCode::NoEntry),
        }
    }

    fn id(hash: wasip2::filesystem::types::MetadataHashValue) -> FileId {
        FileId((u128::from(hash.upper) << 64) | u128::from(hash.lower))
    }

    impl WasiDir {
        /// Opens guest directory `path` through the preopen that holds it.
        pub fn open(path: &str) -> Result<WasiDir, String> {
            let trimmed = path.trim_end_matches('/');
            let mut best: Option<(Descriptor, String)> = None;
            for (descriptor, guest) in get_directories() {
                let g = guest.trim_end_matches('/');
                let inside = trimmed == g
                    || g.is_empty()
                    || (trimmed.starts_with(g) && trimmed.as_bytes().get(g.len()) == Some(&b'/'));
                if inside && best.as_ref().is_none_or(|(_, b)| g.len() > b.len()) {
                    best = Some((descriptor, g.to_string()));
                }
            }
            let Some((preopen, guest)) = best else {
                return Err(format!(
                    "`path`: no granted directory holds `{path}`; grant it read-only, e.g. `grants: {{ dirs: [{{ host: ./logs, guest: {path} }}] }}`"
                ));
            };
            let rest = trimmed[guest.len()..].trim_start_matches('/');
            let dir = if rest.is_empty() {
                preopen
            } else {
                preopen
                    .open_at(
                        PathFlags::SYMLINK_FOLLOW,
                        rest,
                        OpenFlags::DIRECTORY,
                        DescriptorFlags::READ,
                    )
                    .map_err(|e| {
                        format!("`path`: cannot open directory `{path}`: {}", e.message())
                    })?
            };
            Ok(WasiDir {
                dir,
                path: trimmed.to_string(),
            })
        }

        fn full(&self, name: &str) -> String {
            format!("{}/{name}", self.path)
        }
    }

    impl Fs for WasiDir {
        type File = Descriptor;

        fn list(&self) -> Result<Vec<String>, FsError> {
            let stream = self
                .dir
                .read_directory()
                .map_err(|e| error(&self.path, e))?;
            let mut names = Vec::new();
            while let Some(entry) = stream
                .read_directory_entry()
                .map_err(|e| error(&self.path, e))?
            {
                if matches!(
                    entry.type_,
                    DescriptorType::RegularFile | DescriptorType::SymbolicLink
                ) {
                    names.push(entry.name);
                }
            }
            Ok(names)
        }

        fn open(&self, name: &str) -> Result<Descriptor, FsError> {
            self.dir
                .open_at(
                    PathFlags::SYMLINK_FOLLOW,
                    name,
                    OpenFlags::empty(),
                    DescriptorFlags::READ,
                )
                .map_err(|e| error(&self.full(name), e))
        }

        fn identity(&self, file: &Descriptor) -> Result<FileId, FsError> {
            file.metadata_hash()
                .map(id)
                .map_err(|e| error(&self.path, e))
        }

        fn identity_of(&self, name: &str) -> Result<FileId, FsError> {
            self.dir
                .metadata_hash_at(PathFlags::SYMLINK_FOLLOW, name)
                .map(id)
                .map_err(|e| error(&self.full(name), e))
        }

        fn size(&self, file: &Descriptor) -> Result<u64, FsError> {
            file.stat()
                .map(|s| s.size)
                .map_err(|e| error(&self.path, e))
        }

        fn read_at(
            &self,
            file: &Descriptor,
            offset: u64,
            len: usize,
            buf: &mut Vec<u8>,
        ) -> Result<usize, FsError> {
            let (bytes, _end) = file
                .read(len as u64, offset)
                .map_err(|e| error(&self.path, e))?;
            buf.extend_from_slice(&bytes);
            Ok(bytes.len())
        }
    }
}

/// `std::fs` on a host directory, for the native unit tests.
#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    use std::fs::File;
    use std::io::{ErrorKind, Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    use super::{FileId, Fs, FsError};

    /// A host directory.
    pub struct NativeDir(pub PathBuf);

    fn error(path: &std::path::Path, e: &std::io::Error) -> FsError {
        FsError {
            path: path.display().to_string(),
            message: e.to_string(),
            not_found: e.kind() == ErrorKind::NotFound,
        }
    }

    fn id(m: &std::fs::Metadata) -> FileId {
        FileId((u128::from(m.dev()) << 64) | u128::from(m.ino()))
    }

    impl Fs for NativeDir {
        type File = (File, PathBuf);

        fn list(&self) -> Result<Vec<String>, FsError> {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(&self.0).map_err(|e| error(&self.0, &e))? {
                let entry = entry.map_err(|e| error(&self.0, &e))?;
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            Ok(names)
        }

        fn open(&self, name: &str) -> Result<Self::File, FsError> {
            let path = self.0.join(name);
            File::open(&path)
                .map(|f| (f, path.clone()))
                .map_err(|e| error(&path, &e))
        }

        fn identity(&self, (file, path): &Self::File) -> Result<FileId, FsError> {
            file.metadata().map(|m| id(&m)).map_err(|e| error(path, &e))
        }

        fn identity_of(&self, name: &str) -> Result<FileId, FsError> {
            let path = self.0.join(name);
            std::fs::metadata(&path)
                .map(|m| id(&m))
                .map_err(|e| error(&path, &e))
        }

        fn size(&self, (file, path): &Self::File) -> Result<u64, FsError> {
            file.metadata()
                .map(|m| m.len())
                .map_err(|e| error(path, &e))
        }

        fn read_at(
            &self,
            (file, path): &Self::File,
            offset: u64,
            len: usize,
            buf: &mut Vec<u8>,
        ) -> Result<usize, FsError> {
            let mut f = file;
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| error(path, &e))?;
            let start = buf.len();
            let n = f
                .take(len as u64)
                .read_to_end(buf)
                .map_err(|e| error(path, &e))?;
            debug_assert_eq!(buf.len() - start, n);
            Ok(n)
        }
    }
}

/// Whether `name` matches `pattern` (`*` any run of characters, `?` one
/// character; everything else literal).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("app.log", "app.log"));
        assert!(!matches("app.log", "app.log.1"));
        assert!(matches("*.log", "app.log"));
        assert!(!matches("*.log", "app.log.1"));
        assert!(matches("app-?.log", "app-1.log"));
        assert!(!matches("app-?.log", "app-12.log"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("*", ""));
    }

    #[test]
    fn paths() {
        assert_eq!(split_path("/logs/app.log"), Ok(("/logs", "app.log")));
        assert_eq!(split_path("/app.log"), Ok(("/", "app.log")));
        assert!(split_path("logs/app.log").unwrap_err().contains("absolute"));
        assert!(split_path("/logs/").unwrap_err().contains("directory"));
        assert!(
            split_path("/lo*/a.log")
                .unwrap_err()
                .contains("only the file name")
        );
        assert_eq!(
            FileId::parse(&FileId(0xabc).to_string()),
            Some(FileId(0xabc))
        );
        assert_eq!(FileId::parse("xyz"), None);
    }
}
