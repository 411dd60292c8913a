//! Users and groups, through the C library (and so NSS), as `--switch_user` needs.

use std::ffi::CString;
use std::io;

use nix::unistd::Gid;

/// A task's identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    let Some(pwd) = nix::unistd::User::from_name(name)? else {
        return Ok(None);
    };
    let groups = nix::unistd::getgrouplist(&cname, pwd.gid)
        .map(|groups| groups.into_iter().map(Gid::as_raw).collect())
        .unwrap_or_else(|_| vec![pwd.gid.as_raw()]);
    Ok(Some(User {
        name: name.to_string(),
        uid: pwd.uid.as_raw(),
        gid: pwd.gid.as_raw(),
        groups,
        home: pwd.dir.to_string_lossy().into_owned(),
    }))
}

/// Looks a group up by name: `Ok(None)` if there is no such group.
pub fn lookup_group(name: &str) -> io::Result<Option<u32>> {
    if name.contains('\0') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(nix::unistd::Group::from_name(name)?.map(|group| group.gid.as_raw()))
}

/// The effective uid of the agent.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}
