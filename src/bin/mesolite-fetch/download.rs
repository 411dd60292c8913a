//! Getting a URI's bytes into a file: local copy, libcurl, or the Hadoop client; and probing
//! sizes for the agent's cache reservations.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use curl::easy::Easy;
use mesolite::fetcher::protocol::FetchRequest;
use mesolite::fetcher::uri::{NetScheme, Source};

use crate::error::{io_err, FetchError};
use crate::safe_fs;

/// Downloads `source` into `dest` (created, never through a link). Returns the bytes written.
pub fn download(source: &Source, dest: &Path, request: &FetchRequest) -> Result<u64, FetchError> {
    match source {
        Source::Local(path) => copy_local(path, dest),
        Source::Net { scheme, url } => {
            let mut out = safe_fs::create(dest)?;
            curl_get(*scheme, url, &mut out, request.stall_timeout_secs, dest)
        }
        Source::Hadoop(uri) => hadoop_copy(uri, dest, request),
    }
}

fn copy_local(path: &Path, dest: &Path) -> Result<u64, FetchError> {
    // Opened as the task user (the caller has switched already), following links like Mesos's
    // stat; permissions decide, so a root-only file fails for other users.
    let mut input = File::open(path).map_err(io_err("open", path))?;
    let meta = input.metadata().map_err(io_err("inspect", path))?;
    if !meta.is_file() {
        return Err(FetchError::Io {
            op: "copy",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    let mut out = safe_fs::create(dest)?;
    io::copy(&mut input, &mut out).map_err(io_err("copy into", dest))
}

fn stall_limit(easy: &mut Easy, stall_timeout_secs: f64, url: &str) -> Result<(), FetchError> {
    let curl_err = |source| FetchError::Curl {
        url: url.to_string(),
        source,
    };
    // Mesos's stall timeout: abort when slower than 1 byte/s for the whole period.
    let secs = if stall_timeout_secs.is_finite() && stall_timeout_secs >= 1.0 {
        stall_timeout_secs
    } else {
        1.0
    };
    easy.low_speed_limit(1).map_err(curl_err)?;
    easy.low_speed_time(Duration::from_secs_f64(secs))
        .map_err(curl_err)?;
    easy.connect_timeout(Duration::from_secs_f64(secs))
        .map_err(curl_err)?;
    // No other protocol through a redirect (libcurl's default already excludes file://).
    easy.follow_location(true).map_err(curl_err)?;
    trust_system_cas(easy).map_err(curl_err)?;
    easy.url(url).map_err(curl_err)
}

/// libcurl is linked statically (a process start without its ~30 shared libraries costs a
/// cache hit ~10 ms less), so it knows no CA bundle of its own: use the system's, or
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` when set.
pub fn trust_system_cas(easy: &mut Easy) -> Result<(), curl::Error> {
    let file = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            Some(std::path::PathBuf::from(
                "/etc/ssl/certs/ca-certificates.crt",
            ))
        })
        .filter(|p| p.is_file());
    if let Some(f) = file {
        easy.cainfo(f)?;
    }
    let dir = std::env::var_os("SSL_CERT_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(std::path::PathBuf::from("/etc/ssl/certs")))
        .filter(|p| p.is_dir());
    if let Some(d) = dir {
        easy.capath(d)?;
    }
    Ok(())
}

/// GETs `url` into `out` (its path `dest` named in errors), with the stall timeout; for HTTP
/// anything but 200 is an error. Returns the bytes written.
pub fn curl_get(
    scheme: NetScheme,
    url: &str,
    out: &mut File,
    stall_timeout_secs: f64,
    dest: &Path,
) -> Result<u64, FetchError> {
    let curl_err = |source| FetchError::Curl {
        url: url.to_string(),
        source,
    };
    let mut easy = Easy::new();
    stall_limit(&mut easy, stall_timeout_secs, url)?;
    let mut written: u64 = 0;
    let mut write_error: Option<io::Error> = None;
    let performed = {
        let mut transfer = easy.transfer();
        transfer
            .write_function(|data| match out.write_all(data) {
                Ok(()) => {
                    written += data.len() as u64;
                    Ok(data.len())
                }
                Err(err) => {
                    write_error = Some(err);
                    // Fewer bytes than given makes libcurl abort the transfer.
                    Ok(0)
                }
            })
            .map_err(curl_err)?;
        transfer.perform()
    };
    if let Some(err) = write_error {
        return Err(io_err("write", dest)(err));
    }
    performed.map_err(curl_err)?;
    if matches!(scheme, NetScheme::Http | NetScheme::Https) {
        let code = easy.response_code().map_err(curl_err)?;
        if code != 200 {
            return Err(FetchError::HttpStatus { code });
        }
    }
    Ok(written)
}

fn hadoop_binary(request: &FetchRequest) -> PathBuf {
    match &request.hadoop_home {
        Some(home) if !home.as_os_str().is_empty() => home.join("bin").join("hadoop"),
        _ => PathBuf::from("hadoop"),
    }
}

fn hadoop_copy(uri: &str, dest: &Path, request: &FetchRequest) -> Result<u64, FetchError> {
    let hadoop_err = |detail: String| FetchError::Hadoop {
        uri: uri.to_string(),
        detail,
    };
    // The client's own output goes to our stderr, i.e. the sandbox's stderr file.
    let status = Command::new(hadoop_binary(request))
        .args(["fs", "-copyToLocal", uri])
        .arg(dest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|err| hadoop_err(format!("cannot run the Hadoop client: {err}")))?;
    if !status.success() {
        return Err(hadoop_err(format!("the Hadoop client {status}")));
    }
    let meta = fs::metadata(dest).map_err(io_err("inspect", dest))?;
    Ok(meta.len())
}

/// The size of a URI's content, for the agent's cache reservation. `Err` = unknown.
pub fn probe_size(source: &Source, request: &FetchRequest) -> Result<u64, String> {
    match source {
        Source::Local(path) => {
            let meta = fs::metadata(path).map_err(|e| format!("'{}': {e}", path.display()))?;
            if meta.is_file() {
                Ok(meta.len())
            } else {
                Err(format!("'{}' is not a regular file", path.display()))
            }
        }
        Source::Net {
            scheme: NetScheme::Http | NetScheme::Https,
            url,
        } => head_content_length(url, request.stall_timeout_secs),
        Source::Net { .. } => Err("the size of an FTP resource is not probed".to_string()),
        Source::Hadoop(uri) => hadoop_du(uri, request),
    }
}

fn head_content_length(url: &str, stall_timeout_secs: f64) -> Result<u64, String> {
    let mut easy = Easy::new();
    stall_limit(&mut easy, stall_timeout_secs, url).map_err(|e| e.to_string())?;
    let curl_err = |e: curl::Error| format!("Error probing resource '{url}': {e}");
    easy.nobody(true).map_err(curl_err)?;
    easy.perform().map_err(curl_err)?;
    let code = easy.response_code().map_err(curl_err)?;
    if code != 200 {
        return Err(format!("HEAD '{url}' received HTTP return code {code}"));
    }
    let length = easy.content_length_download().map_err(curl_err)?;
    // libcurl says -1 without a Content-Length; Mesos also refuses 0 as a size.
    if length >= 1.0 {
        Ok(length as u64)
    } else {
        Err(format!("no usable Content-Length for '{url}'"))
    }
}

fn hadoop_du(uri: &str, request: &FetchRequest) -> Result<u64, String> {
    let output = Command::new(hadoop_binary(request))
        .args(["fs", "-du", "-s", uri])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the Hadoop client: {e}"))?;
    if !output.status.success() {
        return Err(format!("hadoop fs -du {}", output.status));
    }
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| "unparsable hadoop fs -du output".to_string())
}
