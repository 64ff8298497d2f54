//! Container log files: stdout and stderr of a container go, interleaved, to one file
//! per container, capped by copy-truncate rotation.
//!
//! The container's process writes to the file itself, through a descriptor opened in
//! append mode: no relay in the agent, so a container outlives a restarting agent
//! without losing its stdout (a pipe to a dead relay would kill it with SIGPIPE). The
//! price is that the cap is enforced from outside: whenever the file passes half the
//! cap (checked every [`ROTATE_EVERY`] and on every read), its last half-cap bytes are
//! copied to `<file>.1` and the file is truncated to zero; the writer's next append
//! lands at the new end. So at rest the two files hold at most the cap together, and
//! the live file exceeds half the cap only by what a container writes between two
//! checks. Lines written between the copy and the truncation are lost, as with
//! logrotate's `copytruncate`, and a follower may miss them too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the runtime checks running containers' log files against the cap.
pub(super) const ROTATE_EVERY: Duration = Duration::from_millis(100);

/// The file older output is rotated into.
pub(super) fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Opens (creating) a container's log file for its process to append to.
pub(super) fn open_for_writer(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Rotates `path` if it holds more than half of `limit` bytes.
pub(super) fn rotate_if_needed(path: &Path, limit: u64) -> io::Result<()> {
    let half = (limit / 2).max(1);
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if len <= half {
        return Ok(());
    }
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let keep = half.min(len);
    file.seek(SeekFrom::Start(len - keep))?;
    let mut tail = Vec::with_capacity(keep as usize);
    file.by_ref().take(keep).read_to_end(&mut tail)?;
    // Start the kept part at a line boundary so no reader sees half a line.
    if len > keep {
        if let Some(nl) = tail.iter().position(|&b| b == b'\n') {
            tail.drain(..=nl);
        }
    }
    fs::write(rotated_path(path), &tail)?;
    file.set_len(0)
}

/// Everything retained (the rotated part, then the live file), and the live file's
/// length as read.
pub(super) fn read_all(path: &Path) -> io::Result<(Vec<u8>, u64)> {
    let mut out = read_or_empty(&rotated_path(path))?;
    let live = read_or_empty(path)?;
    out.extend_from_slice(&live);
    Ok((out, live.len() as u64))
}

/// The file's bytes; none if it does not exist (yet, or any more).
fn read_or_empty(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
}

/// What the live file holds from `offset` on, and the new offset. A file shorter than
/// `offset` was rotated meanwhile: reading restarts at its beginning.
pub(super) fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<u8>, u64)> {
    let Some((mut out, start)) = read_after(path, offset)? else {
        return Ok((Vec::new(), offset));
    };
    // Hand out whole lines only; the rest comes with the next read (or at the end).
    let whole = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    out.truncate(whole);
    let next = start + out.len() as u64;
    Ok((out, next))
}

/// Like [`read_from`], including a final unterminated line: for the last read after
/// the container exited.
pub(super) fn read_rest(path: &Path, offset: u64) -> io::Result<Vec<u8>> {
    Ok(read_after(path, offset)?.map_or_else(Vec::new, |(out, _)| out))
}

/// The live file from `offset` on (from its beginning if it is shorter: rotated), and
/// where that read started; `None` if the file does not exist.
fn read_after(path: &Path, offset: u64) -> io::Result<Option<(Vec<u8>, u64)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let start = if file.metadata()?.len() < offset {
        0
    } else {
        offset
    };
    file.seek(SeekFrom::Start(start))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(Some((out, start)))
}

/// Removes a container's log files.
pub(super) fn remove(path: &Path) {
    let _ = fs::remove_file(rotated_path(path));
    let _ = fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn rotation_keeps_the_newest_whole_lines_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut writer = open_for_writer(&path).unwrap();
        for i in 0..1000 {
            writeln!(writer, "line {i:04}").unwrap();
        }
        rotate_if_needed(&path, 200).unwrap();
        // The writer keeps its descriptor and appends at the new end.
        writeln!(writer, "after").unwrap();
        let all = String::from_utf8(read_all(&path).unwrap().0).unwrap();
        assert!(all.len() <= 200, "{} bytes retained", all.len());
        assert!(all.ends_with("line 0999\nafter\n"), "{all}");
        assert!(all.starts_with("line "), "starts at a line boundary: {all}");
        assert_eq!(fs::metadata(&path).unwrap().len(), 6);
    }

    #[test]
    fn followers_get_whole_lines_and_survive_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut writer = open_for_writer(&path).unwrap();
        write!(writer, "one\ntw").unwrap();
        let (chunk, offset) = read_from(&path, 0).unwrap();
        assert_eq!(chunk, b"one\n");
        writeln!(writer, "o").unwrap();
        let (chunk, offset) = read_from(&path, offset).unwrap();
        assert_eq!(chunk, b"two\n");
        writer.set_len(0).unwrap();
        writeln!(writer, "3").unwrap();
        let (chunk, _) = read_from(&path, offset).unwrap();
        assert_eq!(chunk, b"3\n");
    }
}
