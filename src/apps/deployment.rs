//! Marathon's deployments: a change of an app (start, scale, restart, upgrade, stop) in
//! progress, listed by `GET /v2/deployments` until the app has converged.

use serde_json::{json, Value};

/// What a deployment does, as Marathon names its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Scale,
    Restart,
    Stop,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Start => "StartApplication",
            Action::Scale => "ScaleApplication",
            Action::Restart => "RestartApplication",
            Action::Stop => "StopApplication",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    /// The app version the deployment leads to.
    pub version: String,
    pub app: String,
    pub action: Action,
}

impl Deployment {
    /// Marathon's deployment JSON (`GET /v2/deployments`): one step with one action.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "version": self.version,
            "affectedApps": [self.app],
            "affectedPods": [],
            "steps": [{"actions": [{"action": self.action.name(), "app": self.app}]}],
            "currentActions": [{"action": self.action.name(), "app": self.app, "readinessCheckResults": []}],
            "currentStep": 1,
            "totalSteps": 1,
        })
    }
}

/// A deployment ID: Marathon's are UUIDs.
pub fn new_id(nonce: u128) -> String {
    let h = format!("{nonce:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
