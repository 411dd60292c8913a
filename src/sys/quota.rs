//! XFS project quotas: the project ID of a directory (FS_IOC_FSGETXATTR/FSSETXATTR) and the
//! quota of a project (quotactl Q_XGETQSTAT, Q_XGETQUOTA, Q_XSETQLIM), as `xfs_quota` does them.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::cvt;

/// include/uapi/linux/fs.h: `struct fsxattr`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}

const FS_XFLAG_PROJINHERIT: u32 = 0x0000_0200;
/// `_IOR('X', 31, struct fsxattr)` and `_IOW('X', 32, struct fsxattr)`.
const FS_IOC_FSGETXATTR: libc::c_ulong = ioc(2, 31);
const FS_IOC_FSSETXATTR: libc::c_ulong = ioc(1, 32);

const fn ioc(dir: libc::c_ulong, nr: libc::c_ulong) -> libc::c_ulong {
    (dir << 30) | ((std::mem::size_of::<FsXattr>() as libc::c_ulong) << 16) | (0x58 << 8) | nr
}

/// include/uapi/linux/dqblk_xfs.h: `struct fs_disk_quota`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsDiskQuota {
    version: i8,
    flags: i8,
    fieldmask: u16,
    id: u32,
    blk_hardlimit: u64,
    blk_softlimit: u64,
    ino_hardlimit: u64,
    ino_softlimit: u64,
    bcount: u64,
    icount: u64,
    itimer: i32,
    btimer: i32,
    iwarns: u16,
    bwarns: u16,
    itimer_hi: i8,
    btimer_hi: i8,
    rtbtimer_hi: i8,
    padding2: i8,
    rtb_hardlimit: u64,
    rtb_softlimit: u64,
    rtbcount: u64,
    rtbtimer: i32,
    rtbwarns: u16,
    padding3: i16,
    padding4: [u8; 8],
}

/// `struct fs_qfilestat`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsQFileStat {
    ino: u64,
    nblks: u64,
    nextents: u32,
}

/// `struct fs_quota_stat`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsQuotaStat {
    version: i8,
    flags: u16,
    pad: i8,
    uquota: FsQFileStat,
    gquota: FsQFileStat,
    incoredqs: u32,
    btimelimit: i32,
    itimelimit: i32,
    rtbtimelimit: i32,
    bwarnlimit: u16,
    iwarnlimit: u16,
}

const FS_DQUOT_VERSION: i8 = 1;
const FS_PROJ_QUOTA: i8 = 2;
const FS_DQ_BSOFT: u16 = 1 << 2;
const FS_DQ_BHARD: u16 = 1 << 3;
const FS_QUOTA_PDQ_ACCT: u16 = 1 << 4;
const FS_QUOTA_PDQ_ENFD: u16 = 1 << 5;
const PRJQUOTA: libc::c_int = 2;
const fn xqm_cmd(x: libc::c_int) -> libc::c_int {
    (0x58 << 8) + x
}
const Q_XGETQUOTA: libc::c_int = xqm_cmd(3);
const Q_XSETQLIM: libc::c_int = xqm_cmd(4);
const Q_XGETQSTAT: libc::c_int = xqm_cmd(5);
/// `QCMD(cmd, PRJQUOTA)`.
const fn qcmd(cmd: libc::c_int) -> libc::c_int {
    (cmd << 8) | (PRJQUOTA & 0xff)
}
/// Quota blocks ("basic blocks") are 512 bytes.
const BB: u64 = 512;

/// The project ID of `dir` and whether new files inherit it.
pub fn project_id(dir: &Path) -> io::Result<(u32, bool)> {
    let f = File::open(dir)?;
    let x = get_xattr(&f)?;
    Ok((x.projid, x.xflags & FS_XFLAG_PROJINHERIT != 0))
}

/// Sets the project ID of `path` (a directory: also PROJINHERIT, so what is created in it
/// inherits the ID; `inherit` false clears it).
pub fn set_project_id(path: &Path, projid: u32, inherit: bool) -> io::Result<()> {
    // Never through a symlink: the caller walks trees a task wrote.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let mut x = get_xattr(&f)?;
    x.projid = projid;
    if inherit {
        x.xflags |= FS_XFLAG_PROJINHERIT;
    } else {
        x.xflags &= !FS_XFLAG_PROJINHERIT;
    }
    // SAFETY: FS_IOC_FSSETXATTR reads one `struct fsxattr`, which `x` is (repr(C), same layout).
    cvt(unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FSSETXATTR, &x as *const FsXattr) })?;
    Ok(())
}

fn get_xattr(f: &File) -> io::Result<FsXattr> {
    let mut x = FsXattr::default();
    // SAFETY: FS_IOC_FSGETXATTR writes one `struct fsxattr` into `x`, which is that struct.
    cvt(unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FSGETXATTR, &mut x as *mut FsXattr) })?;
    Ok(x)
}

/// Whether project quotas are accounted and enforced on the filesystem of `device`.
pub fn project_quota_state(device: &CStr) -> io::Result<(bool, bool)> {
    let mut st = FsQuotaStat::default();
    // SAFETY: Q_XGETQSTAT writes one `struct fs_quota_stat` into `st`; `device` is a valid C
    // string the call only reads.
    cvt(unsafe {
        libc::quotactl(
            qcmd(Q_XGETQSTAT),
            device.as_ptr(),
            0,
            (&mut st as *mut FsQuotaStat).cast(),
        )
    })?;
    Ok((
        st.flags & FS_QUOTA_PDQ_ACCT != 0,
        st.flags & FS_QUOTA_PDQ_ENFD != 0,
    ))
}

/// A project's usage and block hard limit, in bytes (limit 0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectQuota {
    pub used: u64,
    pub limit: u64,
}

/// Usage and limit of project `projid`.
pub fn get_project_quota(device: &CStr, projid: u32) -> io::Result<ProjectQuota> {
    let mut q = FsDiskQuota::default();
    let id = libc::c_int::try_from(projid).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: Q_XGETQUOTA writes one `struct fs_disk_quota` into `q`; `device` is only read.
    let got = cvt(unsafe {
        libc::quotactl(
            qcmd(Q_XGETQUOTA),
            device.as_ptr(),
            id,
            (&mut q as *mut FsDiskQuota).cast(),
        )
    });
    match got {
        Ok(_) => Ok(ProjectQuota {
            used: q.bcount * BB,
            limit: q.blk_hardlimit * BB,
        }),
        // A project that owns nothing and has no limit has no dquot yet.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(ProjectQuota { used: 0, limit: 0 }),
        Err(e) => Err(e),
    }
}

/// Sets the block hard and soft limits of project `projid` to `bytes` (rounded up to 512-byte
/// blocks; 0 removes the limit).
pub fn set_project_limit(device: &CStr, projid: u32, bytes: u64) -> io::Result<()> {
    let blocks = bytes.div_ceil(BB);
    let mut q = FsDiskQuota {
        version: FS_DQUOT_VERSION,
        flags: FS_PROJ_QUOTA,
        fieldmask: FS_DQ_BSOFT | FS_DQ_BHARD,
        id: projid,
        blk_hardlimit: blocks,
        blk_softlimit: blocks,
        ..FsDiskQuota::default()
    };
    let id = libc::c_int::try_from(projid).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: Q_XSETQLIM reads one `struct fs_disk_quota` from `q`; `device` is only read.
    cvt(unsafe {
        libc::quotactl(
            qcmd(Q_XSETQLIM),
            device.as_ptr(),
            id,
            (&mut q as *mut FsDiskQuota).cast(),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_layouts_match_the_kernel() {
        // Sizes from the uapi headers on x86_64: a wrong layout would corrupt the calls.
        assert_eq!(std::mem::size_of::<FsXattr>(), 28);
        assert_eq!(std::mem::size_of::<FsDiskQuota>(), 112);
        assert_eq!(std::mem::size_of::<FsQuotaStat>(), 80);
        assert_eq!(FS_IOC_FSGETXATTR, 0x801c_581f);
        assert_eq!(FS_IOC_FSSETXATTR, 0x401c_5820);
        assert_eq!(qcmd(Q_XGETQUOTA), 0x0058_0302);
    }

    #[test]
    fn test_project_id_of_a_plain_directory() {
        // Any filesystem that supports the ioctl reports project 0 for a fresh directory.
        let dir = std::env::temp_dir().join(format!("mesolite-quota-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        match project_id(&dir) {
            Ok((id, inherit)) => {
                assert_eq!(id, 0);
                assert!(!inherit);
            }
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "{e}"),
        }
        let _ = std::fs::remove_dir(&dir);
    }
}
