//! Becoming the task user before any URI is touched (MESOS-5845: a fetcher running as root
//! could copy any local file, `/etc/shadow` included, into a sandbox).

use std::fs;
use std::os::unix::fs::chown;
use std::path::Path;

use mesolite::sys::process::{armed_parent, rearm_parent_death, switch_user};
use mesolite::sys::user::{euid, lookup_user};

use crate::error::{io_err, FetchError};

/// Creates the cache directory (if `needs_cache`) owned by `user`, then switches to `user` when
/// running as root; without root, only fetching as oneself is possible.
pub fn assume(user: Option<&str>, cache_dir: &Path, needs_cache: bool) -> Result<(), FetchError> {
    let Some(name) = user else {
        if needs_cache {
            fs::create_dir_all(cache_dir).map_err(io_err("create directory", cache_dir))?;
        }
        return Ok(());
    };
    let user_err = |detail: String| FetchError::User {
        user: name.to_string(),
        detail,
    };
    let account = lookup_user(name)
        .map_err(|e| user_err(format!("cannot look the user up: {e}")))?
        .ok_or_else(|| user_err("no such user, cannot chown the cache directory".to_string()))?;
    if needs_cache {
        fs::create_dir_all(cache_dir).map_err(io_err("create directory", cache_dir))?;
    }
    if euid() == 0 {
        if needs_cache {
            chown(cache_dir, Some(account.uid), Some(account.gid))
                .map_err(|e| user_err(format!("failed to chown '{}': {e}", cache_dir.display())))?;
        }
        // The kernel drops the parent-death signal on a credential change: set it again.
        let parent = armed_parent();
        switch_user(account.uid, account.gid, &account.groups)
            .map_err(|e| user_err(format!("failed to switch user: {e}")))?;
        if let Some(parent) = parent {
            rearm_parent_death(parent).map_err(|e| user_err(format!("the agent is gone ({e})")))?;
        }
    } else if account.uid != euid() {
        return Err(user_err(
            "not running as root, so cannot switch (or chown) to this user".to_string(),
        ));
    }
    Ok(())
}
