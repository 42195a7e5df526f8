//! `telvox`: the daemon and its command-line interface.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use telvox::cli::{self, simcall::SimCallOptions};
use telvox::ctl::client;
use telvox::store::CallFilter;

/// The configuration used when neither --config nor TELVOX_CONFIG says otherwise.
const DEFAULT_CONFIG: &str = "/etc/telvox/telvox.toml";

#[derive(Parser)]
#[command(
    name = "telvox",
    version,
    about = "Call-centre telephony daemon: IVR, call log, sim card and DAHDI"
)]
struct Cli {
    /// The configuration file (default: $TELVOX_CONFIG, else /etc/telvox/telvox.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Daemon {
        /// Stay in the foreground (systemd, containers, tests). Without it telvox detaches and logs
        /// to <data_dir>/telvox.log.
        #[arg(long)]
        foreground: bool,
    },
    /// Uptime, spans, channels, calls today and the health counters.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Every channel and what it is doing.
    Channels {
        #[arg(long)]
        json: bool,
    },
    /// The call log, newest first (read straight from the database: works with the daemon stopped).
    Calls {
        /// today, an age (30m, 2h, 7d), a date (2026-11-22) or a local time (2026-11-22 08:30).
        #[arg(long)]
        since: Option<String>,
        /// Only calls whose caller number contains this.
        #[arg(long)]
        caller: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Also show each call's path through its flow (states entered, lookup outcomes).
        #[arg(long)]
        path: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stream live call events as JSON lines.
    Events,
    /// Re-read the configuration for new calls (calls in progress keep theirs).
    Reload,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Act as a far-end party on the simulated card.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Signal-processing checks.
    Dsp {
        #[command(subcommand)]
        command: DspCommand,
    },
    /// Load a daemon with concurrent sim calls and measure it.
    Bench(cli::bench::BenchArgs),
    /// Show an IVR flow of flows_dir: `show` as an outline, `dot` as Graphviz.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Start or stop recording a call in progress (by its call id, see `telvox channels`).
    Record {
        call: String,
        #[arg(value_parser = ["start", "stop"])]
        action: String,
        /// alaw, pcm16 or stereo (default: [recording] on_demand_format).
        #[arg(long)]
        format: Option<String>,
    },
    /// Call recordings: search, play, export, verify (reads the database and files directly).
    Rec {
        #[command(subcommand)]
        command: cli::rec::RecCommand,
    },
    /// PIN helpers for the business database.
    Pin {
        #[command(subcommand)]
        command: PinCommand,
    },
    /// Voicemail: messages, mailbox PINs, statistics.
    Vm {
        #[command(subcommand)]
        command: VmCommand,
    },
    /// Supervisors who hear call recordings by phone: list them, set a PIN.
    Sup {
        #[command(subcommand)]
        command: telvox::apps::supervisor::cli::SupCommand,
    },
    /// Fax tools.
    Fax {
        #[command(subcommand)]
        command: FaxCommand,
    },
    /// The card: `scan` proposes a hardware map from what DAHDI has.
    Hw {
        #[command(subcommand)]
        command: cli::hw::HwCommand,
    },
}

#[derive(Subcommand)]
enum VmCommand {
    /// Messages of one box, or of every box.
    List {
        #[arg(value_name = "BOX")]
        box_: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Writes a message (its id, from `vm list`) to a WAV file.
    Play {
        #[arg(value_name = "BOX")]
        box_: String,
        msg: i64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Deletes a message.
    Delete {
        #[arg(value_name = "BOX")]
        box_: String,
        msg: i64,
    },
    /// Reads a new PIN from stdin and stores its salted hash in mailboxes.toml.
    Passwd {
        #[arg(value_name = "BOX")]
        box_: String,
    },
    /// Messages per box, the mail queue, recordings in progress.
    Stats {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum FaxCommand {
    /// Load the fax-on-demand catalog (converting PDF/PostScript, validating every document) and
    /// list it. Exit 1 when a document is bad.
    Docs {
        /// The catalog (default: the configuration's fax_catalog).
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
        /// Where converted documents are cached (default: <data_dir>/fax/cache).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Fax sessions (sent and received), newest first: remote station id, pages, modem, result,
    /// files. Reads the database: works with the daemon stopped. Exit 1 when nothing matched.
    Log {
        /// Started at or after: today, an age (2h, 7d), a date (2026-11-22) or a local time.
        #[arg(long)]
        from: Option<String>,
        /// Started before (same forms as --from).
        #[arg(long)]
        to: Option<String>,
        /// in (received) or out (sent).
        #[arg(long, value_name = "in|out")]
        direction: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Queue a fax: NUMBER FILE... (TIFF-F, PDF or PostScript; several files make one fax), or
    /// --to-list LIST FILE... to send the same fax to every number in LIST (one per line, # comments).
    Send {
        /// NUMBER then FILE..., or only FILE... with --to-list.
        #[arg(value_name = "NUMBER FILE", required = true)]
        args: Vec<String>,
        /// A file of numbers to broadcast to (one job per number).
        #[arg(long, value_name = "FILE")]
        to_list: Option<PathBuf>,
        /// Not before this local time: "YYYY-MM-DD HH:MM" or "HH:MM" (its next occurrence).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The header line on each page (default: [fax] header).
        #[arg(long, value_name = "TEXT")]
        header: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The outbound fax queue, newest first (works with the daemon stopped).
    List {
        #[arg(long)]
        json: bool,
    },
    /// One fax job: its state, attempts and last result. Exit 1 when there is no such job.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a fax job that is queued or being sent. Exit 1 when it is finished or unknown.
    Cancel { id: i64 },
}

#[derive(Subcommand)]
enum FlowCommand {
    /// The flow as a readable outline: states, actions as written, where each goes.
    Show { name: String },
    /// The flow as a Graphviz digraph (`telvox flow dot main | dot -Tsvg > main.svg`).
    Dot { name: String },
}

#[derive(Subcommand)]
enum PinCommand {
    /// Reads a PIN from stdin and prints its salted hash (for `verify_pin`'s pin_hash column).
    Hash,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration offline and print every problem (default: the --config file).
    Check { file: Option<PathBuf> },
}

#[derive(Subcommand)]
enum DspCommand {
    /// Score telvox's DTMF receiver and spandsp's side by side on every Q.24 condition.
    Conformance {
        /// Also run the talk-off corpus (over an hour of generated speech, music and sweeps; needs
        /// espeak-ng and sox; cached under the given directory).
        #[arg(long, value_name = "CACHE_DIR")]
        talkoff: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Dial NUMBER, press keys as DTMF audio when the prompt pauses, save what was heard.
    Call {
        number: String,
        /// The calling number sent with the call.
        #[arg(long, default_value = "1000")]
        from: String,
        /// Keys to press (0-9 * # A-D).
        #[arg(long, default_value = "")]
        keys: String,
        /// Tone length of each key.
        #[arg(long, default_value_t = 60)]
        key_ms: u32,
        /// Silence between keys.
        #[arg(long, default_value_t = 60)]
        key_gap_ms: u32,
        /// Press the keys this long after the answer instead of when the prompt pauses.
        #[arg(long)]
        keys_at_ms: Option<u32>,
        /// Save what the caller heard as a WAV file (PCM16, 8 kHz), from the answer on (the
        /// network's ringback before it is not saved).
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// Hang up this many seconds after the answer (default: wait for telvox to hang up).
        #[arg(long, value_name = "S")]
        hangup_after: Option<f64>,
        #[arg(long)]
        json: bool,
    },
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .or_else(|| std::env::var_os("TELVOX_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

fn main() {
    let cli = Cli::parse();
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("telvox: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: &Cli) -> Result<i32> {
    let path = config_path(cli);
    match &cli.command {
        Command::Daemon { foreground } => telvox::daemon::main(&path, *foreground).map(|_| 0),
        Command::Status { json } => {
            let config = cli::load_config(&path)?;
            cli::print_status(&client::request(&config.ctl_socket(), "status")?, *json);
            Ok(0)
        }
        Command::Channels { json } => {
            let config = cli::load_config(&path)?;
            cli::print_channels(&client::request(&config.ctl_socket(), "channels")?, *json);
            Ok(0)
        }
        Command::Calls {
            since,
            caller,
            limit,
            path: with_path,
            json,
        } => {
            let config = cli::load_config(&path)?;
            let since_ms = since.as_deref().map(cli::parse_since).transpose()?;
            let filter = CallFilter {
                since_ms,
                caller: caller.clone(),
                limit: *limit,
            };
            cli::calls(&config, &filter, *with_path, *json).map(|_| 0)
        }
        Command::Events => {
            let config = cli::load_config(&path)?;
            client::stream_events(&config.ctl_socket(), std::io::stdout().lock()).map(|_| 0)
        }
        Command::Reload => {
            let config = cli::load_config(&path).map_err(|e| {
                e.context("reload not sent: the running daemon keeps its current configuration")
            })?;
            let data = client::request(&config.ctl_socket(), "reload")?;
            for w in data["warnings"].as_array().into_iter().flatten() {
                println!("warning: {}", w.as_str().unwrap_or_default());
            }
            println!("reloaded {}", path.display());
            Ok(0)
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => Ok(cli::config_check(file.as_ref().unwrap_or(&path))),
        Command::Sim { command } => match command {
            SimCommand::Call {
                number,
                from,
                keys,
                key_ms,
                key_gap_ms,
                keys_at_ms,
                save,
                hangup_after,
                json,
            } => {
                let config = cli::load_config(&path)?;
                let opts = SimCallOptions {
                    number: number.clone(),
                    from: from.clone(),
                    keys: keys.clone(),
                    key_ms: *key_ms,
                    key_gap_ms: *key_gap_ms,
                    keys_at_ms: *keys_at_ms,
                    save: save.clone(),
                    hangup_after_s: *hangup_after,
                    json: *json,
                };
                cli::simcall::run(&config, &opts)
            }
        },
        Command::Bench(args) => cli::bench::run(args),
        Command::Dsp {
            command: DspCommand::Conformance { talkoff },
        } => cli::dsp_conformance(talkoff.as_deref()),
        Command::Flow { command } => match command {
            FlowCommand::Show { name } => cli::flow(&path, name, false),
            FlowCommand::Dot { name } => cli::flow(&path, name, true),
        },
        Command::Pin {
            command: PinCommand::Hash,
        } => cli::pin_hash(),
        Command::Record { call, action, format } => {
            let config = cli::load_config(&path)?;
            let request =
                serde_json::json!({"cmd": "record", "call": call, "action": action, "format": format});
            let data = client::request_json(&config.ctl_socket(), &request)?;
            println!("{data}");
            Ok(0)
        }
        Command::Rec { command } => {
            let config = cli::load_config(&path)?;
            cli::rec::run(&config, command)
        }
        Command::Vm { command } => run_vm(&path, command).map(|_| 0),
        Command::Sup { command } => telvox::apps::supervisor::cli::run(&path, command),
        Command::Fax { command } => run_fax(&path, command),
        Command::Hw { command } => cli::hw::run(command),
    }
}

fn run_fax(path: &std::path::Path, command: &FaxCommand) -> Result<i32> {
    use telvox::cli::faxq;
    if let FaxCommand::Docs { catalog, cache, json } = command {
        return cli::fax::docs(path, catalog.as_deref(), cache.as_deref(), *json);
    }
    let config = cli::load_config(path)?;
    match command {
        FaxCommand::Send {
            args,
            to_list,
            at,
            header,
            json,
        } => faxq::send(
            &config,
            &faxq::SendArgs {
                args: args.clone(),
                to_list: to_list.clone(),
                at: at.clone(),
                header: header.clone(),
                json: *json,
            },
        ),
        FaxCommand::List { json } => faxq::list(&config, *json),
        FaxCommand::Show { id, json } => faxq::show(&config, *id, *json),
        FaxCommand::Cancel { id } => faxq::cancel(&config, *id),
        FaxCommand::Log {
            from,
            to,
            direction,
            limit,
            json,
        } => cli::fax::log(
            path,
            from.as_deref(),
            to.as_deref(),
            direction.as_deref(),
            *limit,
            *json,
        ),
        FaxCommand::Docs { catalog, cache, json } => {
            cli::fax::docs(path, catalog.as_deref(), cache.as_deref(), *json)
        }
    }
}

fn run_vm(path: &std::path::Path, command: &VmCommand) -> Result<()> {
    use telvox::apps::voicemail::cli as vm;
    match command {
        // Works on a mailboxes file the config check refuses (a plain PIN is what it replaces).
        VmCommand::Passwd { box_ } => vm::passwd_at(path, box_),
        VmCommand::List { box_, json } => vm::list(&cli::load_config(path)?, box_.as_deref(), *json),
        VmCommand::Play { box_, msg, out } => vm::play(&cli::load_config(path)?, box_, *msg, out),
        VmCommand::Delete { box_, msg } => vm::delete(&cli::load_config(path)?, box_, *msg),
        VmCommand::Stats { json } => vm::stats(&cli::load_config(path)?, *json),
    }
}
