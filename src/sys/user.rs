//! Users and groups, through the C library (and so NSS), as `--switch_user` needs.

use std::ffi::{CStr, CString};
use std::io;

/// A task's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// Looks a user up by name: `Ok(None)` if there is no such user.
pub fn lookup_user(name: &str) -> io::Result<Option<User>> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: all-zero is a valid passwd (pointers NULL, ints 0); getpwnam_r fills it.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the sizes given; strings in `pwd` point into `buf`.
    let r = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    if result.is_null() {
        return Ok(None);
    }
    // SAFETY: on success pw_dir points to a NUL-terminated string inside `buf`, alive here.
    let home = unsafe { cstr_or_empty(pwd.pw_dir) };
    let groups = group_list(&cname, pwd.pw_gid);
    Ok(Some(User {
        name: name.to_string(),
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
        groups,
        home,
    }))
}

/// Looks a group up by name: `Ok(None)` if there is no such group.
pub fn lookup_group(name: &str) -> io::Result<Option<u32>> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: all-zero is a valid group struct; getgrnam_r fills it.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the sizes given.
    let r = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(if result.is_null() {
        None
    } else {
        Some(grp.gr_gid)
    })
}

fn group_list(name: &CStr, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; usize::try_from(n).unwrap_or(64)];
        let mut count = n;
        // SAFETY: `groups` has room for `count` entries; getgrouplist updates `count`.
        let r = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if r >= 0 {
            groups.truncate(usize::try_from(count).unwrap_or(0));
            return groups;
        }
        if count <= n || n > 65536 {
            return vec![gid];
        }
        n = count;
    }
}

/// # Safety
/// `p` must be NULL or point to a NUL-terminated string.
unsafe fn cstr_or_empty(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The effective uid of the agent.
pub fn euid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}
