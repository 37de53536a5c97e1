//! Bounded body reading: a cap on decompressed bytes and a floor on throughput.
//!
//! Owns the rules that keep a hostile server from costing memory or time: gzip bombs, endless
//! bodies, one-byte-per-second trickles. Must never buffer more than the cap plus one chunk.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// Throughput rules for one body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Longest wait for the next chunk.
    pub idle: Duration,
    /// After this long, the body must be arriving at `min_rate` or better.
    pub grace: Duration,
    /// Bytes per second below which a slow body is cut off (after `grace`).
    pub min_rate: u64,
}

impl BodyLimits {
    /// Limits that fit a total request timeout.
    pub fn for_timeout(total: Duration) -> BodyLimits {
        BodyLimits {
            idle: total.min(Duration::from_secs(20)),
            grace: Duration::from_secs(5).min(total),
            // Any real feed server manages far more; a trickler sending a byte a second does not.
            min_rate: 512,
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// More than the cap.
    #[error("body larger than {}", format_size(*.0))]
    TooLarge(u64),
    /// Stalled or trickling.
    #[error("{0}")]
    TooSlow(String),
    /// Transport error mid-body.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// Local I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads a response body, stopping at `cap` decompressed bytes.
///
/// reqwest decompresses before handing out chunks, so counting chunk bytes caps gzip, brotli
/// and zstd bombs while they stream, never after.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: u64,
    limits: &BodyLimits,
) -> Result<Vec<u8>, ReadError> {
    let start = Instant::now();
    let mut body =
        Vec::with_capacity(response.content_length().unwrap_or(0).min(cap).min(1 << 20) as usize);
    loop {
        let chunk = match tokio::time::timeout(limits.idle, response.chunk()).await {
            Err(_) => {
                return Err(ReadError::TooSlow(format!(
                    "no data for {}s while reading the body",
                    limits.idle.as_secs()
                )));
            }
            Ok(chunk) => chunk?,
        };
        let Some(chunk) = chunk else { break };
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(ReadError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
        let elapsed = start.elapsed();
        if elapsed > limits.grace {
            let rate = body.len() as f64 / elapsed.as_secs_f64();
            if rate < limits.min_rate as f64 {
                return Err(ReadError::TooSlow(format!(
                    "body arriving at {rate:.0} B/s, below the {} B/s floor",
                    limits.min_rate
                )));
            }
        }
    }
    Ok(body)
}

/// Reads a local file, stopping at `cap` bytes.
pub async fn read_file_capped(file: tokio::fs::File, cap: u64) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut body)
        .await?;
    if body.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(body)
}

/// `10485760` → `"10 MiB"`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}
