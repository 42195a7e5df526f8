//! `telvox hw …`: the hardware as the driver sees it.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;

use crate::hw::dahdi::scan::{self, ScanSource};

#[derive(Subcommand)]
pub enum HwCommand {
    /// Read what DAHDI has (spans, channels, signalling) and write a proposed hardware map.
    Scan {
        /// Write the map to FILE (through a temporary name and a rename) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Read a /proc/dahdi directory (or a copy of one) instead of asking the driver.
        #[arg(long, value_name = "DIR")]
        proc: Option<PathBuf>,
        /// DAHDI's device directory (default /dev/dahdi, or $TELVOX_DAHDI_DEV).
        #[arg(long, value_name = "DIR")]
        dev: Option<PathBuf>,
    },
}

pub fn run(command: &HwCommand) -> Result<i32> {
    match command {
        HwCommand::Scan { out, proc, dev } => {
            let source = match (proc, dev) {
                (Some(dir), _) => ScanSource::Proc(dir.clone()),
                (None, Some(dir)) => ScanSource::Driver(dir.clone()),
                (None, None) => {
                    let dev = crate::hw::dahdi::card::dev_dir();
                    if dev.join("ctl").exists() || !PathBuf::from("/proc/dahdi").is_dir() {
                        ScanSource::Driver(dev)
                    } else {
                        ScanSource::Proc(PathBuf::from("/proc/dahdi"))
                    }
                }
            };
            let (spans, from) = scan::scan(&source).map_err(|e| anyhow!("hw scan: {e}"))?;
            let map = scan::propose_map(&spans, &from);
            match out {
                Some(path) => {
                    scan::write_map(path, &map)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "wrote {} ({} span(s) from {from}): check it, then point `hw` in telvox.toml at it",
                        path.display(),
                        spans.len()
                    );
                }
                None => print!("{map}"),
            }
            Ok(0)
        }
    }
}
