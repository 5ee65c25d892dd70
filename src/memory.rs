//! Parsing of memory sizes given on the command line.

use anyhow::{bail, Result};

/// Parses `512MiB`, `4GiB`, `100MB`, `1e9` or a plain byte count.
pub fn parse_bytes(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "`{s}` is not a size: use a number with an optional unit (KiB, MiB, GiB, KB, MB, GB)"
        )
    })?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        u => bail!("`{u}` in `{s}` is not a unit; allowed: KiB, MiB, GiB, KB, MB, GB"),
    };
    let b = v * mult;
    if !(b.is_finite() && b >= 1.0) {
        bail!("`{s}` must be a positive size");
    }
    Ok(b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("1e9").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("100 MB").unwrap(), 100_000_000);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }
}
