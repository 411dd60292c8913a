//! The one parser of `/proc/<pid>/mountinfo` (proc(5)): pure, over its text, so that tests
//! feed it samples. Used by cgroup detection, the XFS disk isolator and the provisioner.

use std::path::PathBuf;

/// One line: `id parent maj:min root mount_point options [optional...] - fstype source
/// super_options`, with the octal escapes (`\040` for a space) of the path fields undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    pub fs_type: String,
    pub source: String,
    /// Options of the super block (`rw,cpu,cpuacct` for a v1 cgroup hierarchy).
    pub super_options: String,
}

/// Every well-formed line of a mountinfo text, in order; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (before, after) = line.split_once(" - ")?;
    let mut before = before.split(' ');
    let mount_id = before.next()?.parse().ok()?;
    let parent_id = before.next()?.parse().ok()?;
    let (major, minor) = before.next()?.split_once(':')?;
    let root = before.next()?;
    let mount_point = before.next()?;
    let options = before.next()?;
    let mut after = after.split(' ');
    let (fs_type, source, super_options) = (after.next()?, after.next()?, after.next()?);
    Some(MountInfo {
        mount_id,
        parent_id,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: PathBuf::from(unescape(root)),
        mount_point: PathBuf::from(unescape(mount_point)),
        options: options.to_string(),
        fs_type: unescape(fs_type),
        source: unescape(source),
        super_options: super_options.to_string(),
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`); a backslash
/// not followed by three octal digits of a byte value stays as it is.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            digits
                .iter()
                .try_fold(0u16, |acc, &d| {
                    (b'0'..=b'7')
                        .contains(&d)
                        .then(|| acc * 8 + u16::from(d - b'0'))
                })
                .and_then(|value| u8::try_from(value).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn test_parses_every_field() {
        let text = "\
36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
25 1 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
";
        let mounts = parse(text);
        assert_eq!(
            mounts[0],
            MountInfo {
                mount_id: 36,
                parent_id: 35,
                major: 98,
                minor: 0,
                root: PathBuf::from("/mnt1"),
                mount_point: PathBuf::from("/mnt2"),
                options: "rw,noatime".to_string(),
                fs_type: "ext3".to_string(),
                source: "/dev/root".to_string(),
                super_options: "rw,errors=continue".to_string(),
            }
        );
        assert_eq!(mounts[1].fs_type, "cgroup");
        assert_eq!(mounts[1].super_options, "rw,cpu,cpuacct");
    }

    #[test]
    fn test_escapes_and_malformed_lines() {
        let text = "garbage\n\
                    60 1 0:50 / /tmp/my\\040cgroups rw - cgroup2 my\\011src rw\n\
                    61 1 0:51 / /x rw -\n\
                    x 1 0:52 / /y rw - tmpfs tmpfs rw\n\
                    62 1 0-53 / /z rw - tmpfs tmpfs rw\n";
        let mounts = parse(text);
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount_point, Path::new("/tmp/my cgroups"));
        assert_eq!(mounts[0].source, "my\tsrc");
        assert_eq!(unescape("a\\134b\\9"), "a\\b\\9");
        assert_eq!(unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape(r"/plain\x"), r"/plain\x");
        assert_eq!(unescape(r"\777"), r"\777");
    }

    #[test]
    fn test_this_process() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mounts = parse(&text);
        assert_eq!(mounts.len(), text.lines().count());
        assert!(mounts.iter().any(|m| m.mount_point == Path::new("/")));
    }
}
