//! `aftersale serve`: the HTTP service (crate `aftersale-server`) over a rules folder, until
//! SIGTERM or Ctrl-C; and `--hash-token`, which prints what the config file stores for a
//! token.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use aftersale_server::{hash_token, ServeOptions, Server, ServerConfig, StartError};
use serde_json::json;

use crate::render::Format;
use crate::{print_out, report, Context, Failure};

/// Where the server listens when neither `--addr` nor the config file says.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Arguments of `aftersale serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The rules folder: every bundle under it (without --config), or one folder per tenant
    /// (with --config).
    #[arg(long, required_unless_present = "hash_token")]
    rules: Option<PathBuf>,
    /// Where to listen [default: the config's `server.addr`, else 127.0.0.1:8080]. Without
    /// --config only loopback addresses are allowed.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// The server config (tokens, tenants, limits); see the README's "HTTP service".
    #[arg(long)]
    config: Option<PathBuf>,
    /// Reload when files under the rules folder change (as POST /v1/admin/reload does).
    #[arg(long)]
    watch: bool,
    /// Threads answering requests [default: the number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Log as JSON lines instead of text (RUST_LOG filters, default `info`).
    #[arg(long)]
    log_json: bool,
    /// Print the SHA-256 of TOKEN (`-` reads it from stdin) for the config file, and exit.
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["rules", "addr", "config", "watch"])]
    hash_token: Option<String>,
}

/// Runs `aftersale serve`.
pub(crate) fn run(ctx: &Context<'_>, args: &ServeArgs) -> Result<(), Failure> {
    let format = ctx.format;
    if let Some(token) = &args.hash_token {
        return print_hash(format, token);
    }
    let Some(rules) = args.rules.clone() else {
        fail(format, "usage", "--rules is required".into());
        return Err(Failure::BadInput);
    };
    if !rules.is_dir() {
        fail(
            format,
            "unreadable",
            format!("`{}` is not a folder", rules.display()),
        );
        return Err(Failure::BadInput);
    }
    let config = match &args.config {
        Some(path) => ServerConfig::from_file(path).map_err(|e| {
            fail(format, "invalid_config", e.to_string());
            Failure::BadInput
        })?,
        None => ServerConfig::default(),
    };
    let addr = match args.addr.or(config.limits.addr) {
        Some(addr) => addr,
        None => DEFAULT_ADDR.parse().map_err(|_| Failure::Failed)?,
    };
    aftersale_server::init_tracing(args.log_json);
    let options = ServeOptions {
        rules,
        addr,
        config,
        watch: args.watch,
        workers: args.workers,
    };
    let server =
        Server::start_with_engine(options, ctx.engine()).map_err(|e| start_failed(format, &e))?;
    // One line on stdout, so scripts can wait for it and read the port.
    print_out(&format!("listening on http://{}\n", server.local_addr()))?;
    server.run_until_signal().map_err(|e| {
        fail(format, "serve", e.to_string());
        Failure::Failed
    })
}

fn print_hash(format: Format, token: &str) -> Result<(), Failure> {
    let token = if token == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            fail(
                format,
                "unreadable",
                format!("cannot read the token from stdin: {e}"),
            );
            Failure::BadInput
        })?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else {
        token.to_string()
    };
    if token.is_empty() {
        fail(format, "usage", "the token is empty".into());
        return Err(Failure::BadInput);
    }
    print_out(&format!("{}\n", hash_token(&token)))
}

fn start_failed(format: Format, error: &StartError) -> Failure {
    match error {
        StartError::Catalog(catalog) => {
            let mut text = String::new();
            for p in &catalog.problems {
                text.push_str(&format!("error: {}: {}\n", p.bundle, p.message));
            }
            text.push_str(&format!(
                "not serving: {} problem(s) in the rules folder\n",
                catalog.problems.len()
            ));
            report(
                format,
                text,
                json!({"code": "invalid_rules", "message": error.to_string(), "problems": catalog.problems}),
            );
            Failure::Failed
        }
        StartError::LoopbackOnly { .. } | StartError::Bind { .. } => {
            fail(format, "usage", error.to_string());
            Failure::BadInput
        }
        _ => {
            fail(format, "serve", error.to_string());
            Failure::Failed
        }
    }
}

fn fail(format: Format, code: &str, message: String) {
    report(
        format,
        format!("error: {message}\n"),
        json!({"code": code, "message": message}),
    );
}
