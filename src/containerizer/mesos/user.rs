//! STARTING, before anything is made: `command.user` is looked up on the host, as Mesos does
//! (the sandbox is then chowned to it). The lookup goes through NSS, which may be LDAP on the
//! network, so it runs in a short-lived forked child that prints one JSON line; the launch goes
//! on when the child ends. A user the host does not know fails the launch with 400 naming it,
//! and, as nothing was made yet, the container is forgotten.

use std::time::Duration;

use mio::Registry;
use serde::{Deserialize, Serialize};

use super::error::LaunchError;
use super::{slot_container, ContainerId, MesosContainerizer, Notice};
use crate::children::{ChildError, ChildEvent, ChildId, Owner, Program};
use crate::spec::LaunchRequest;
use crate::sys::user::{lookup_user, User};
use crate::timer::Timers;

/// A lookup that takes longer than this fails the launch (a hung directory server).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the lookup child prints: one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAnswer {
    Found(User),
    /// NSS answered: there is no such user.
    Unknown,
    /// NSS failed (the error's text).
    Error(String),
}

impl UserAnswer {
    /// The child's line, read back.
    pub fn parse(line: &str) -> Result<UserAnswer, String> {
        serde_json::from_str(line).map_err(|e| format!("unreadable answer {line:?}: {e}"))
    }

    fn of_lookup(name: &str) -> UserAnswer {
        match lookup_user(name) {
            Ok(Some(user)) => UserAnswer::Found(user),
            Ok(None) => UserAnswer::Unknown,
            Err(e) => UserAnswer::Error(e.to_string()),
        }
    }

    /// What the launch becomes.
    fn into_user(self, name: &str) -> Result<User, LaunchError> {
        match self {
            UserAnswer::Found(user) => Ok(user),
            UserAnswer::Unknown => Err(LaunchError::UnknownUser(name.to_string())),
            UserAnswer::Error(e) => Err(lookup_error(name, e)),
        }
    }
}

fn lookup_error(name: &str, why: String) -> LaunchError {
    LaunchError::UserLookup {
        name: name.to_string(),
        source: std::io::Error::other(why),
    }
}

/// The forked child: looks `name` up and prints the answer.
fn lookup_program(name: String) -> Program {
    Program::Fork(Box::new(move || {
        let mut line = serde_json::to_vec(&UserAnswer::of_lookup(&name)).unwrap_or_default();
        line.push(b'\n');
        match crate::sys::fd::write_all(1, &line) {
            Ok(()) => 0,
            Err(_) => 1,
        }
    }))
}

/// A launch waiting for its user's lookup.
#[derive(Debug)]
pub struct Resolving {
    req: LaunchRequest,
    name: String,
    child: ChildId,
    answer: Option<Result<UserAnswer, String>>,
}

impl MesosContainerizer {
    /// The user to look up before the launch can go on (none without `--switch_user`).
    pub(super) fn user_to_resolve(&self, req: &LaunchRequest) -> Option<String> {
        req.command
            .user
            .clone()
            .filter(|_| self.settings.switch_user)
    }

    /// Starts the lookup of `name` for the launch of `id` (inserted, still STARTING).
    pub(super) fn begin_user_lookup(
        &mut self,
        id: &ContainerId,
        name: String,
        req: LaunchRequest,
        registry: &Registry,
        timers: &mut Timers,
    ) -> Result<(), ChildError> {
        let Some(slot) = self.containers.get(id).map(|c| c.slot) else {
            return Ok(());
        };
        let child =
            self.children
                .spawn(Owner::User(slot), lookup_program(name.clone()), registry)?;
        self.children.set_deadline(child, LOOKUP_TIMEOUT, timers);
        log::debug!("Container {id}: looking up user '{name}' ({child})");
        if let Some(c) = self.containers.get_mut(id) {
            c.resolving = Some(Box::new(Resolving {
                req,
                name,
                child,
                answer: None,
            }));
        }
        Ok(())
    }

    /// The lookup child wrote, or ended: the launch goes on as the user, or fails.
    pub(super) fn on_user_event(
        &mut self,
        slot: u32,
        event: ChildEvent,
        timers: &mut Timers,
    ) -> Vec<Notice> {
        let Some((id, c)) = slot_container(&self.by_slot, &mut self.containers, slot) else {
            return Vec::new();
        };
        let Some(r) = c.resolving.as_mut() else {
            return Vec::new();
        };
        let timed_out = matches!(
            event,
            ChildEvent::Finished {
                timed_out: true,
                ..
            }
        );
        let (lines, eof) = event.into_lines();
        if let Some(line) = lines.first() {
            r.answer = Some(UserAnswer::parse(line));
        }
        if !eof {
            return Vec::new();
        }
        let Some(r) = c.resolving.take() else {
            return Vec::new();
        };
        let Resolving {
            req, name, answer, ..
        } = *r;
        let user = match answer {
            Some(Ok(answer)) => answer.into_user(&name),
            Some(Err(e)) => Err(lookup_error(&name, e)),
            None if timed_out => Err(lookup_error(
                &name,
                format!("no answer within {LOOKUP_TIMEOUT:?}"),
            )),
            None => Err(lookup_error(
                &name,
                "the lookup ended without answering".into(),
            )),
        };
        match user {
            Ok(user) => {
                log::debug!("Container {id}: user '{name}' is uid {}", user.uid);
                self.start_launch(&id, req, Some(user), timers);
                Vec::new()
            }
            Err(e) => {
                log::warn!("Container {id}: {e}");
                self.forget_unstarted(&id, e.to_string())
            }
        }
    }

    /// DESTROYING while the user is looked up: the lookup is killed and, as nothing was made,
    /// the container is forgotten; the pending LAUNCH is answered.
    pub(super) fn abort_user_lookup(
        &mut self,
        id: &ContainerId,
        registry: &Registry,
    ) -> Vec<Notice> {
        let Some(r) = self.containers.get_mut(id).and_then(|c| c.resolving.take()) else {
            return Vec::new();
        };
        self.children.kill(r.child, registry);
        self.forget_unstarted(
            id,
            "Failed to launch container: the container was destroyed while its user was looked up"
                .into(),
        )
    }

    /// Forgets a container that never got past its user lookup: it never was, as a launch
    /// refused at once; the LAUNCH gets `msg` and a WAIT hears it is not found.
    pub(super) fn forget_unstarted(&mut self, id: &ContainerId, msg: String) -> Vec<Notice> {
        self.forget(id);
        vec![
            Notice::LaunchFailed(id.clone(), msg),
            Notice::Terminated(id.clone()),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_back_as_written_and_garbage_is_an_error() {
        let user = User {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            groups: vec![65534, 100],
            home: "/nonexistent".into(),
        };
        for answer in [
            UserAnswer::Found(user.clone()),
            UserAnswer::Unknown,
            UserAnswer::Error("LDAP is down".into()),
        ] {
            let line = serde_json::to_string(&answer).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(UserAnswer::parse(&line).unwrap(), answer);
        }
        assert_eq!(
            UserAnswer::Found(user.clone()).into_user("nobody").unwrap(),
            user
        );
        let err = UserAnswer::Unknown
            .into_user("ghost")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown user 'ghost'"), "{err}");
        let err = UserAnswer::Error("LDAP is down".into())
            .into_user("ghost")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'ghost'") && err.contains("LDAP is down"),
            "{err}"
        );
        assert!(UserAnswer::parse("{\"found\": 3}").is_err());
        assert!(UserAnswer::parse("uid=0").is_err());
    }

    #[test]
    fn the_lookup_child_prints_what_nss_says() {
        // The forked program itself, run through the child runner as the agent runs it.
        let mut poll = mio::Poll::new().unwrap();
        let mut children = crate::children::Children::default();
        let owner = Owner::User(7);
        for (name, known) in [("root", true), ("no-such-user-mltest", false)] {
            children
                .spawn(owner, lookup_program(name.into()), poll.registry())
                .unwrap();
            let mut lines = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let mut done = false;
            let mut events = mio::Events::with_capacity(8);
            while !done && std::time::Instant::now() < deadline {
                poll.poll(&mut events, Some(Duration::from_millis(50)))
                    .unwrap();
                let ids: Vec<u32> = events
                    .iter()
                    .filter_map(|e| match crate::event::Source::from_token(e.token()) {
                        Some(crate::event::Source::Child(id)) => Some(id),
                        _ => None,
                    })
                    .collect();
                let mut got: Vec<ChildEvent> = ids
                    .into_iter()
                    .flat_map(|id| children.on_ready(id, poll.registry()))
                    .collect();
                got.extend(children.on_sigchld());
                for event in got {
                    let (l, eof) = event.into_lines();
                    lines.extend(l);
                    done |= eof;
                }
            }
            assert!(done, "{name}: the lookup child did not finish");
            let answer = UserAnswer::parse(&lines[0]).unwrap();
            match (known, answer) {
                (true, UserAnswer::Found(u)) => assert_eq!((u.uid, u.name), (0, "root".into())),
                (false, UserAnswer::Unknown) => {}
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
    }
}
