//! Marathon's app as the shape pass reads it: each field's JSON kind (after its RAML types),
//! which are required, and which one node refuses (with the reason given in the answer).

use super::shape::{env, role};
use super::Found;
use serde_json::Value;

/// What a field's JSON must be.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    Num,
    /// An integer (a whole double is made one).
    Int,
    /// An integer from 0 to i32::MAX (the fields the model holds unsigned).
    Count,
    /// An integer from 0 to 65535.
    Port,
    Bool,
    Enum(&'static [&'static str]),
    Array(&'static Kind),
    /// An object with free keys (`labels`), each value of this kind.
    Map(&'static Kind),
    Object(&'static [Field]),
    /// Kept as it is (`readinessChecks` entries, `unreachableStrategy`).
    Any,
    /// Refused unless absent or empty (`null`, `false`, `{}`, `[]`, `""`): why, for the answer.
    Refused(&'static str),
    /// Checked by its own function, which returns whether the value is kept.
    Custom(fn(&mut Value, &str, &mut Found) -> bool),
}

pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) required: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const STRINGS: Kind = Kind::Array(&Kind::Str);
const LABELS: Kind = Kind::Map(&Kind::Str);
const NO_SECRETS: &str = "secrets are not supported: mesolite has no secret store";

pub(super) const APP: &[Field] = &[
    req("id", Kind::Str),
    opt("cmd", Kind::Str),
    opt("args", STRINGS),
    opt("user", Kind::Str),
    opt("env", Kind::Custom(env)),
    opt("instances", Kind::Int),
    opt("cpus", Kind::Num),
    opt("mem", Kind::Num),
    opt("disk", Kind::Num),
    opt("gpus", Kind::Int),
    opt("executor", Kind::Str),
    opt("constraints", Kind::Array(&STRINGS)),
    opt("uris", STRINGS),
    opt("fetch", Kind::Array(&Kind::Object(FETCH))),
    opt("storeUrls", STRINGS),
    opt("container", Kind::Object(CONTAINER)),
    opt("healthChecks", Kind::Array(&Kind::Object(HEALTH_CHECK))),
    opt("readinessChecks", Kind::Array(&Kind::Any)),
    opt("dependencies", STRINGS),
    opt("backoffSeconds", Kind::Num),
    opt("backoffFactor", Kind::Num),
    opt("maxLaunchDelaySeconds", Kind::Num),
    opt("upgradeStrategy", Kind::Object(UPGRADE_STRATEGY)),
    opt("labels", LABELS),
    opt("acceptedResourceRoles", STRINGS),
    opt(
        "portDefinitions",
        Kind::Array(&Kind::Object(PORT_DEFINITION)),
    ),
    opt("ports", Kind::Array(&Kind::Port)),
    opt("requirePorts", Kind::Bool),
    opt(
        "killSelection",
        Kind::Enum(&["YOUNGEST_FIRST", "OLDEST_FIRST"]),
    ),
    opt("taskKillGracePeriodSeconds", Kind::Count),
    opt("version", Kind::Str),
    opt("role", Kind::Custom(role)),
    opt("unreachableStrategy", Kind::Any),
    opt(
        "residency",
        Kind::Refused(
            "residency (tasks pinned to local persistent volumes) is not supported: \
             one node has no reservations to pin them to",
        ),
    ),
    opt("secrets", Kind::Refused(NO_SECRETS)),
    opt(
        "ipAddress",
        Kind::Refused(
            "ipAddress (an IP address per task) is not supported: use \
             container.docker.network BRIDGE",
        ),
    ),
    opt(
        "resourceLimits",
        Kind::Refused("resourceLimits are not supported: cpus and mem are the limits"),
    ),
    opt(
        "executorResources",
        Kind::Refused("executorResources are not supported: there is no separate executor"),
    ),
    opt(
        "check",
        Kind::Refused("Mesos task checks are not supported: use healthChecks"),
    ),
    opt("tty", Kind::Refused("a TTY for the task is not supported")),
];

const FETCH: &[Field] = &[
    req("uri", Kind::Str),
    opt("extract", Kind::Bool),
    opt("executable", Kind::Bool),
    opt("cache", Kind::Bool),
    opt("destPath", Kind::Str),
    opt("outputFile", Kind::Str),
];

const CONTAINER: &[Field] = &[
    opt("type", Kind::Enum(&["DOCKER", "MESOS"])),
    opt("docker", Kind::Object(DOCKER)),
    opt("volumes", Kind::Array(&Kind::Object(VOLUME))),
    opt("portMappings", Kind::Array(&Kind::Object(PORT_MAPPING))),
    opt(
        "linuxInfo",
        Kind::Refused("container.linuxInfo is not supported for apps"),
    ),
];

const DOCKER: &[Field] = &[
    req("image", Kind::Str),
    opt("network", Kind::Enum(&["BRIDGE", "HOST", "NONE", "USER"])),
    opt("portMappings", Kind::Array(&Kind::Object(PORT_MAPPING))),
    opt("privileged", Kind::Bool),
    opt("parameters", Kind::Array(&Kind::Object(PARAMETER))),
    opt("forcePullImage", Kind::Bool),
    opt("credential", Kind::Refused("must be empty")),
    opt(
        "pullConfig",
        Kind::Refused("pullConfig needs secrets, which mesolite does not have"),
    ),
];

const PARAMETER: &[Field] = &[req("key", Kind::Str), req("value", Kind::Str)];

const PORT_MAPPING: &[Field] = &[
    opt("containerPort", Kind::Int),
    opt("hostPort", Kind::Int),
    opt("servicePort", Kind::Int),
    opt("protocol", Kind::Str),
    opt("name", Kind::Str),
    opt("labels", LABELS),
    opt(
        "networkNames",
        Kind::Refused("networkNames are for USER networks, which mesolite apps do not join"),
    ),
];

const PORT_DEFINITION: &[Field] = &[
    opt("port", Kind::Int),
    opt("protocol", Kind::Str),
    opt("name", Kind::Str),
    opt("labels", LABELS),
];

const VOLUME: &[Field] = &[
    req("containerPath", Kind::Str),
    opt("hostPath", Kind::Str),
    opt("mode", Kind::Enum(&["RO", "RW"])),
    opt(
        "persistent",
        Kind::Refused("persistent volumes are not supported: they need residency"),
    ),
    opt(
        "external",
        Kind::Refused("external volumes are not supported"),
    ),
    opt("secret", Kind::Refused(NO_SECRETS)),
];

const HEALTH_CHECK: &[Field] = &[
    opt(
        "protocol",
        Kind::Enum(&["HTTP", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_TCP"]),
    ),
    opt("path", Kind::Str),
    opt("portIndex", Kind::Port),
    opt("port", Kind::Port),
    opt("command", Kind::Object(&[req("value", Kind::Str)])),
    opt("gracePeriodSeconds", Kind::Count),
    opt("intervalSeconds", Kind::Count),
    opt("timeoutSeconds", Kind::Count),
    opt("maxConsecutiveFailures", Kind::Count),
    opt("ignoreHttp1xx", Kind::Bool),
    opt("delaySeconds", Kind::Count),
    opt("ipProtocol", Kind::Enum(&["IPv4"])),
];

const UPGRADE_STRATEGY: &[Field] = &[
    opt("minimumHealthCapacity", Kind::Num),
    opt("maximumOverCapacity", Kind::Num),
];
