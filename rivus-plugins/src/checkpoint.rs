//! Checkpoints of the file sources: a small state file that says where a source resumes after a restart.
//!
//! A source with `checkpoint = "PATH"` gives the runtime a position per record (the byte offset after it), and
//! the runtime commits a position once every record up to it reached an end (written by every sink, filtered,
//! skipped or dead-lettered). Each commit is written to the state file; the next run opens the input, checks that
//! it is the same file, and resumes at the committed offset. With an appending sink
//! (`append = true`), every record arrives at least once: a record is read again after a crash only when its
//! commit had not been written yet, so the duplicates after a crash are at most the records in flight (the
//! pipeline's buffers) plus those of the last commit.
//!
//! # The state file
//!
//! Two slots of [`SLOT`] bytes, written in turn, each one line of JSON padded with spaces:
//! `{"version":1,"seq":12,"offset":48213,"line":1001,"device":2049,"inode":131,"tail":"…","file":"in.csv","check":"…"}`.
//! A commit overwrites the older slot in place (one `write`, no rename), so a crash in the middle of a write can
//! only damage the slot being written; the other one still holds the previous commit. `check` is a checksum of
//! the other fields; on open the newest slot whose checksum holds wins.
//!
//! The input must be the same file: the same device and inode (on Unix), at least as long as the offset, and with
//! the same bytes before the offset (`tail`, a hash of up to 64 bytes). Otherwise opening fails with an error
//! that says so; remove the state file to read the input from the start.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rivus_core::PipeError;
use serde::{Deserialize, Serialize};

use crate::fs::{Action, FileError, create_parents};

/// The size of one slot of the state file.
pub(crate) const SLOT: usize = 1024;

/// How many bytes before the offset the `tail` hash covers.
const TAIL: u64 = 64;

/// Where a source resumes: the byte offset of the next record, and its line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The byte offset.
    pub(crate) offset: u64,
    /// The line number of the byte at `offset`.
    pub(crate) line: u64,
}

/// One slot of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    version: u32,
    seq: u64,
    offset: u64,
    line: u64,
    device: u64,
    inode: u64,
    /// FNV-1a of up to [`TAIL`] bytes of the input before `offset`, in hex.
    tail: String,
    /// The input's path, for people reading the file (not checked).
    file: String,
    /// FNV-1a of the fields above, in hex.
    check: String,
}

impl Slot {
    fn checksum(&self) -> String {
        let text = format!(
            "{} {} {} {} {} {} {}",
            self.version, self.seq, self.offset, self.line, self.device, self.inode, self.tail
        );
        format!("{:016x}", fnv1a(text.as_bytes()))
    }
}

/// The 64-bit FNV-1a hash: a checksum against torn writes, not a cryptographic hash.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The device and inode of a file (0 and 0 where the platform has none).
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// The open state file of one source.
pub(crate) struct Checkpoint {
    plugin: &'static str,
    path: PathBuf,
    state: File,
    /// The input, for the bytes before a committed offset.
    input: File,
    input_name: String,
    device: u64,
    inode: u64,
    seq: u64,
    /// The slot being written.
    buf: Vec<u8>,
}

impl Checkpoint {
    /// Opens (or creates) the state file at `path` for the input `input` (opened, a regular file, named
    /// `input_path`); returns where to resume, if a commit was found.
    ///
    /// # Errors
    ///
    /// A permanent error naming the state file when it cannot be opened, is damaged, or belongs to another input
    /// (or to this one before it was replaced or cut).
    pub(crate) fn open(
        plugin: &'static str,
        path: &Path,
        input: &File,
        input_path: &Path,
    ) -> Result<(Self, Option<Resume>), PipeError> {
        let fail = |action, e| FileError::io(path, action, e).of(plugin);
        let meta = input
            .metadata()
            .map_err(|e| FileError::io(input_path, Action::Open, e).of(plugin))?;
        if !meta.is_file() {
            return Err(FileError::msg(
                input_path,
                Action::Open,
                "a `checkpoint` needs a regular file to resume in (not a FIFO or a device)",
            )
            .of(plugin));
        }
        create_parents(plugin, path)?;
        let mut state = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| fail(Action::Open, e))?;
        let mut text = Vec::new();
        state
            .read_to_end(&mut text)
            .map_err(|e| fail(Action::Read, e))?;
        let (device, inode) = identity(&meta);
        // A handle of its own, so that reading the bytes before an offset does not move the source's reader.
        let own = File::open(input_path)
            .and_then(|f| f.metadata().map(|m| (f, m)))
            .map_err(|e| FileError::io(input_path, Action::Open, e).of(plugin))?;
        if identity(&own.1) != (device, inode) {
            return Err(FileError::msg(
                input_path,
                Action::Open,
                "the file was replaced while opening",
            )
            .of(plugin));
        }
        let mut checkpoint = Self {
            plugin,
            path: path.to_path_buf(),
            state,
            input: own.0,
            input_name: input_path.display().to_string(),
            device,
            inode,
            seq: 0,
            buf: Vec::with_capacity(SLOT),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok((checkpoint, None));
        }
        let slot = newest(&text).ok_or_else(|| {
            FileError::msg(
                path,
                Action::Read,
                format!(
                    "the checkpoint is damaged (no whole slot); remove it to read {} from the start",
                    checkpoint.input_name
                ),
            )
            .of(plugin)
        })?;
        let input_name = checkpoint.input_name.clone();
        let mismatch = |why: String| {
            FileError::msg(
                path,
                Action::Open,
                format!(
                    "the checkpoint does not fit {input_name}: {why}; remove the checkpoint to read the file from \
                     the start"
                ),
            )
            .of(plugin)
        };
        if (slot.device, slot.inode) != (device, inode) {
            return Err(mismatch(format!(
                "it was written for another file (device {}, inode {}; this one is device {device}, inode {inode}), \
                 e.g. one that was replaced",
                slot.device, slot.inode
            )));
        }
        if slot.offset > meta.len() {
            return Err(mismatch(format!(
                "it resumes at byte {}, but the file has {} bytes (it was cut)",
                slot.offset,
                meta.len()
            )));
        }
        let tail = checkpoint
            .tail(slot.offset)
            .map_err(|e| FileError::io(input_path, Action::Read, e).of(plugin))?;
        if tail != slot.tail {
            return Err(mismatch(format!(
                "the bytes before byte {} changed (the file was rewritten)",
                slot.offset
            )));
        }
        checkpoint.seq = slot.seq;
        let resume = Resume {
            offset: slot.offset,
            line: slot.line,
        };
        Ok((checkpoint, Some(resume)))
    }

    /// The hash of up to [`TAIL`] bytes of the input before `offset`.
    fn tail(&mut self, offset: u64) -> io::Result<String> {
        let start = offset.saturating_sub(TAIL);
        let mut bytes = vec![0; (offset - start) as usize];
        self.input.seek(SeekFrom::Start(start))?;
        self.input.read_exact(&mut bytes)?;
        Ok(format!("{:016x}", fnv1a(&bytes)))
    }

    /// Records that reading resumes at `at`: overwrites the older slot.
    ///
    /// # Errors
    ///
    /// A permanent error naming the state file; the runtime counts it and commits again with the next position.
    pub(crate) fn commit(&mut self, at: Resume) -> Result<(), PipeError> {
        let plugin = self.plugin;
        let fail = |path: &Path, action, e| FileError::io(path, action, e).of(plugin);
        let tail = match self.tail(at.offset) {
            Ok(tail) => tail,
            Err(e) => return Err(fail(Path::new(&self.input_name), Action::Read, e)),
        };
        let mut file: String = self.input_name.chars().take(SLOT / 2).collect();
        file.retain(|c| !c.is_control());
        let mut slot = Slot {
            version: 1,
            seq: self.seq + 1,
            offset: at.offset,
            line: at.line,
            device: self.device,
            inode: self.inode,
            tail,
            file,
            check: String::new(),
        };
        slot.check = slot.checksum();
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &slot)
            .map_err(|e| fail(&self.path, Action::Write, io::Error::other(e)))?;
        self.buf.resize(SLOT - 1, b' ');
        self.buf.push(b'\n');
        let at_slot = (slot.seq % 2) * SLOT as u64;
        self.state
            .seek(SeekFrom::Start(at_slot))
            .and_then(|_| self.state.write_all(&self.buf))
            .map_err(|e| fail(&self.path, Action::Write, e))?;
        self.seq = slot.seq;
        Ok(())
    }
}

/// The newest slot of a state file whose checksum holds.
fn newest(text: &[u8]) -> Option<Slot> {
    text.chunks(SLOT)
        .filter_map(|chunk| serde_json::from_slice::<Slot>(chunk.trim_ascii()).ok())
        .filter(|slot| slot.version == 1 && slot.check == slot.checksum())
        .max_by_key(|slot| slot.seq)
}

/// The size of one slot of a [`StateFile`]: room for a cursor of a few long text values.
const STATE_SLOT: usize = 4096;

/// One slot of a [`StateFile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StateSlot {
    version: u32,
    seq: u64,
    state: serde_json::Value,
    /// FNV-1a of the fields above, in hex.
    check: String,
}

impl StateSlot {
    fn checksum(&self) -> String {
        let text = format!("{} {} {}", self.version, self.seq, self.state);
        format!("{:016x}", fnv1a(text.as_bytes()))
    }
}

/// A state file for sources whose position is not a byte offset (the database sources keep their cursor in
/// it): the same two slots written in turn as a [`Checkpoint`], each holding one JSON value, so a crash in the
/// middle of a write leaves the previous commit readable.
pub(crate) struct StateFile {
    plugin: &'static str,
    path: PathBuf,
    file: File,
    seq: u64,
    buf: Vec<u8>,
}

impl StateFile {
    /// Opens (or creates) the state file at `path`; returns the last state saved in it, if any.
    ///
    /// # Errors
    ///
    /// A permanent error naming the file when it cannot be opened or read, or is damaged.
    pub(crate) fn open(
        plugin: &'static str,
        path: &Path,
    ) -> Result<(Self, Option<serde_json::Value>), PipeError> {
        let fail = |action, e| FileError::io(path, action, e).of(plugin);
        create_parents(plugin, path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| fail(Action::Open, e))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .map_err(|e| fail(Action::Read, e))?;
        let mut state = Self {
            plugin,
            path: path.to_path_buf(),
            file,
            seq: 0,
            buf: Vec::with_capacity(STATE_SLOT),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok((state, None));
        }
        let slot = text
            .chunks(STATE_SLOT)
            .filter_map(|chunk| serde_json::from_slice::<StateSlot>(chunk.trim_ascii()).ok())
            .filter(|slot| slot.version == 1 && slot.check == slot.checksum())
            .max_by_key(|slot| slot.seq)
            .ok_or_else(|| {
                FileError::msg(
                    path,
                    Action::Read,
                    "the state file is damaged (no whole slot); remove it to read from the start",
                )
                .of(plugin)
            })?;
        state.seq = slot.seq;
        Ok((state, Some(slot.state)))
    }

    /// Saves `value`: overwrites the older slot.
    ///
    /// # Errors
    ///
    /// A permanent error naming the file when it cannot be written, or when `value` does not fit in a slot
    /// (4 KiB of JSON).
    pub(crate) fn save(&mut self, value: &serde_json::Value) -> Result<(), PipeError> {
        let plugin = self.plugin;
        let mut slot = StateSlot {
            version: 1,
            seq: self.seq + 1,
            state: value.clone(),
            check: String::new(),
        };
        slot.check = slot.checksum();
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &slot).map_err(|e| {
            FileError::io(&self.path, Action::Write, io::Error::other(e)).of(plugin)
        })?;
        if self.buf.len() >= STATE_SLOT {
            return Err(FileError::msg(
                &self.path,
                Action::Write,
                format!(
                    "the state ({} bytes of JSON) does not fit in a slot of {STATE_SLOT} bytes (a cursor value \
                     that long cannot be kept)",
                    self.buf.len()
                ),
            )
            .of(plugin));
        }
        self.buf.resize(STATE_SLOT - 1, b' ');
        self.buf.push(b'\n');
        let at_slot = (slot.seq % 2) * STATE_SLOT as u64;
        self.file
            .seek(SeekFrom::Start(at_slot))
            .and_then(|_| self.file.write_all(&self.buf))
            .map_err(|e| FileError::io(&self.path, Action::Write, e).of(plugin))?;
        self.seq = slot.seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rivus-checkpoint-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn open(state: &Path, input: &Path) -> Result<(Checkpoint, Option<Resume>), PipeError> {
        Checkpoint::open("csv", state, &File::open(input).unwrap(), input)
    }

    #[test]
    fn resumes_at_the_last_commit_and_survives_a_torn_slot() {
        let dir = dir("resume");
        let input = dir.join("in.csv");
        std::fs::write(&input, "a\n1\n2\n3\n").unwrap();
        let state = dir.join("state/in.checkpoint");
        let (mut cp, resume) = open(&state, &input).unwrap();
        assert_eq!(resume, None);
        cp.commit(Resume { offset: 4, line: 3 }).unwrap();
        cp.commit(Resume { offset: 6, line: 4 }).unwrap();
        drop(cp);
        let (_, resume) = open(&state, &input).unwrap();
        assert_eq!(resume, Some(Resume { offset: 6, line: 4 }));

        // A torn write of the newer slot (seq 2, the first slot): the older one still holds.
        let mut bytes = std::fs::read(&state).unwrap();
        assert_eq!(bytes.len(), 2 * SLOT);
        bytes[30] = b'9';
        std::fs::write(&state, &bytes).unwrap();
        let (_, resume) = open(&state, &input).unwrap();
        assert_eq!(resume, Some(Resume { offset: 4, line: 3 }));

        // Both damaged: an error that says what to do.
        std::fs::write(&state, vec![b'x'; 2 * SLOT]).unwrap();
        let err = open(&state, &input).err().unwrap().to_string();
        assert!(
            err.contains("in.checkpoint: cannot read: the checkpoint is damaged"),
            "{err}"
        );
        assert!(err.contains("remove it to read"), "{err}");
    }

    #[test]
    fn refuses_another_file_a_cut_file_and_a_rewritten_file() {
        let dir = dir("mismatch");
        let input = dir.join("in.csv");
        std::fs::write(&input, "a\n1\n2\n3\n").unwrap();
        let state = dir.join("in.checkpoint");
        let (mut cp, _) = open(&state, &input).unwrap();
        cp.commit(Resume { offset: 6, line: 4 }).unwrap();
        drop(cp);

        // Rewritten in place, same length: the bytes before the offset differ.
        std::fs::write(&input, "a\n7\n8\n9\n").unwrap();
        let err = open(&state, &input).err().unwrap().to_string();
        assert!(err.contains("the bytes before byte 6 changed"), "{err}");
        // Cut.
        std::fs::write(&input, "a\n").unwrap();
        let err = open(&state, &input).err().unwrap().to_string();
        assert!(err.contains("the file has 2 bytes (it was cut)"), "{err}");
        // Replaced by another file (created while the first one still exists, so it has another inode).
        std::fs::write(dir.join("other"), "a\n1\n2\n3\n").unwrap();
        std::fs::rename(dir.join("other"), &input).unwrap();
        let err = open(&state, &input).err().unwrap().to_string();
        assert!(err.contains("written for another file"), "{err}");

        // Appended to: fine, it resumes where it was.
        std::fs::remove_file(&state).unwrap();
        let (mut cp, _) = open(&state, &input).unwrap();
        cp.commit(Resume { offset: 6, line: 4 }).unwrap();
        drop(cp);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap()
            .write_all(b"4\n")
            .unwrap();
        let (_, resume) = open(&state, &input).unwrap();
        assert_eq!(resume, Some(Resume { offset: 6, line: 4 }));
    }

    #[test]
    fn a_state_file_keeps_the_last_value_and_survives_a_torn_slot() {
        let dir = dir("state");
        let path = dir.join("cursor.state");
        let (mut state, last) = StateFile::open("postgres", &path).unwrap();
        assert_eq!(last, None);
        state.save(&serde_json::json!({"cursor": ["1"]})).unwrap();
        state.save(&serde_json::json!({"cursor": ["2"]})).unwrap();
        drop(state);
        let (mut state, last) = StateFile::open("postgres", &path).unwrap();
        assert_eq!(last, Some(serde_json::json!({"cursor": ["2"]})));
        let err = state
            .save(&serde_json::json!({"cursor": ["x".repeat(5000)]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit"), "{err}");
        drop(state);
        // The newer slot (seq 2, the first) torn: the older one holds.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] = b'#';
        std::fs::write(&path, &bytes).unwrap();
        let (_, last) = StateFile::open("postgres", &path).unwrap();
        assert_eq!(last, Some(serde_json::json!({"cursor": ["1"]})));
        std::fs::write(&path, "garbage").unwrap();
        let err = StateFile::open("postgres", &path)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
