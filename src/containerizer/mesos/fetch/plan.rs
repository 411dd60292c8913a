//! What each URI of a launch becomes, decided against the cache index.

use std::path::PathBuf;

use super::Fetcher;
use crate::children::ChildId;
use crate::fetcher::cache::{CachePath, Decision, Lookup, Ticket, TicketState};
use crate::fetcher::protocol::{Action, FetchItem, Mode, Uri};

/// One URI's plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// A cached URI whose size must be probed before space can be reserved.
    NeedsSize,
    /// Sized (or not) by a probe: decide next round.
    Sized(Option<u64>),
    Bypass,
    Download {
        ticket: Ticket,
        path: CachePath,
    },
    Retrieve {
        ticket: Ticket,
        path: CachePath,
    },
    /// Another launch is downloading it into the cache.
    Wait {
        ticket: Ticket,
        path: CachePath,
    },
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Probing,
    Waiting,
    Fetching,
}

/// One container's fetch.
#[derive(Debug)]
pub struct FetchRun {
    pub uris: Vec<Uri>,
    pub user: Option<String>,
    pub sandbox: PathBuf,
    pub plans: Vec<Planned>,
    pub phase: Phase,
    /// The running fetcher, and what it was asked.
    pub child: Option<(ChildId, Mode)>,
    /// Indexes into `uris` of the items the running child was given.
    pub child_items: Vec<usize>,
    /// Items reported done by the fetch child.
    pub done: Vec<bool>,
    pub error: Option<String>,
}

impl FetchRun {
    pub fn new(uris: Vec<Uri>, user: Option<String>, sandbox: PathBuf) -> FetchRun {
        let plans = uris
            .iter()
            .map(|u| {
                if u.cache {
                    Planned::NeedsSize
                } else {
                    Planned::Bypass
                }
            })
            .collect();
        let done = vec![false; uris.len()];
        FetchRun {
            uris,
            user,
            sandbox,
            plans,
            phase: Phase::Fetching,
            child: None,
            child_items: Vec::new(),
            done,
            error: None,
        }
    }

    /// Decides every URI that can be decided now. Resident entries need no probe; absent ones
    /// are probed first (returned by `needs_probe`).
    pub fn plan(&mut self, fetcher: &mut Fetcher) {
        let user = self.user.clone();
        for i in 0..self.uris.len() {
            let uri = self.uris[i].value.clone();
            match self.plans[i].clone() {
                // Resident or in flight, or no cache at all: no size needed.
                Planned::NeedsSize
                    if fetcher.cache.lookup(user.as_deref(), &uri) != Lookup::Absent
                        || fetcher.cache.capacity() == 0 =>
                {
                    self.plans[i] = self.decide(fetcher, i, None);
                }
                Planned::Sized(size) => self.plans[i] = self.decide(fetcher, i, size),
                Planned::Wait { ticket, path } => {
                    self.plans[i] = match fetcher.cache.state(&ticket) {
                        TicketState::Downloading => Planned::Wait { ticket, path },
                        TicketState::Resident(path) => Planned::Retrieve { ticket, path },
                        TicketState::Gone => {
                            release_all(fetcher, &[&Planned::Retrieve { ticket, path }]);
                            Planned::Bypass
                        }
                    };
                }
                _ => {}
            }
        }
    }

    fn decide(&self, fetcher: &mut Fetcher, i: usize, size: Option<u64>) -> Planned {
        let uri = &self.uris[i].value;
        let user = self.user.as_deref();
        match fetcher.cache.lookup_or_reserve(user, uri, size) {
            Decision::RetrieveFromCache { ticket, path } => {
                if fetcher.exists(&path) {
                    return Planned::Retrieve { ticket, path };
                }
                // The file vanished under us (MESOS-7474): forget it and download again.
                log::warn!(
                    "Fetcher cache file {} is missing: downloading {uri} again",
                    path.relative().display()
                );
                let _ = fetcher.cache.release(&ticket);
                fetcher.cache.missing_file(user, uri);
                Planned::NeedsSize
            }
            Decision::WaitForDownload { ticket, path } => {
                // Our own download of a duplicate URI: the fetcher does items in order.
                let ours = self
                    .plans
                    .iter()
                    .any(|p| matches!(p, Planned::Download { path: q, .. } if *q == path));
                if ours {
                    Planned::Retrieve { ticket, path }
                } else {
                    Planned::Wait { ticket, path }
                }
            }
            Decision::DownloadAndCache {
                ticket,
                path,
                evicted,
            } => {
                for e in &evicted {
                    fetcher.delete(e);
                }
                Planned::Download { ticket, path }
            }
            Decision::Bypass { reason } => {
                log::info!("Fetching {uri} without the cache: {reason:?}");
                Planned::Bypass
            }
        }
    }

    /// URIs that need a size probe before they can be decided.
    pub fn needs_probe(&self) -> Vec<usize> {
        (0..self.plans.len())
            .filter(|i| self.plans[*i] == Planned::NeedsSize)
            .collect()
    }

    pub fn waiting(&self) -> bool {
        self.plans.iter().any(|p| matches!(p, Planned::Wait { .. }))
    }

    /// The items for the fetch child, in URI order.
    pub fn items(&self) -> Vec<FetchItem> {
        self.uris
            .iter()
            .zip(&self.plans)
            .map(|(uri, plan)| {
                let (action, file) = match plan {
                    Planned::Download { path, .. } => {
                        (Action::DownloadAndCache, Some(path.file.clone()))
                    }
                    Planned::Retrieve { path, .. } => {
                        (Action::RetrieveFromCache, Some(path.file.clone()))
                    }
                    _ => (Action::BypassCache, None),
                };
                FetchItem {
                    uri: uri.clone(),
                    action,
                    cache_filename: file,
                }
            })
            .collect()
    }

    /// Drops every reference this run holds, failing downloads it did not finish (waiters
    /// then bypass the cache). Returns whether any download ended (to wake waiting runs).
    pub fn release(&mut self, fetcher: &mut Fetcher) -> bool {
        let mut ended = false;
        for (i, plan) in self.plans.iter().enumerate() {
            if let Planned::Download { ticket, .. } = plan {
                if !self.done[i] && fetcher.cache.state(ticket) == TicketState::Downloading {
                    for stale in fetcher.cache.download_finished(ticket, Err(())) {
                        fetcher.delete(&stale);
                    }
                    ended = true;
                }
            }
        }
        let plans: Vec<&Planned> = self.plans.iter().collect();
        release_all(fetcher, &plans);
        self.plans.iter_mut().for_each(|p| {
            if matches!(
                p,
                Planned::Download { .. } | Planned::Retrieve { .. } | Planned::Wait { .. }
            ) {
                *p = Planned::Bypass;
            }
        });
        ended
    }
}

fn release_all(fetcher: &mut Fetcher, plans: &[&Planned]) {
    for plan in plans {
        if let Planned::Download { ticket, .. }
        | Planned::Retrieve { ticket, .. }
        | Planned::Wait { ticket, .. } = plan
        {
            for stale in fetcher.cache.release(ticket) {
                fetcher.delete(&stale);
            }
        }
    }
}
