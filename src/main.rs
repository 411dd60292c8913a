//! `mesolite`: the agent (`mesolite agent`) and the CLI verbs that talk to it.
#![deny(unsafe_code)]

use std::process::ExitCode;

fn usage() -> String {
    format!(
        "mesolite {}: a single-node container agent in the tradition of the Mesos containerizer\n\n\
         Usage:\n  mesolite agent [--name=value ...]   run the agent (mesolite agent --help lists every flag)\n\
         {}\n",
        env!("CARGO_PKG_VERSION"),
        mesolite::cli::usage()
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(verb) = args.first() else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    match verb.as_str() {
        "agent" => agent(rest),
        // The logrotate container logger's process (started by the agent, one per stream).
        mesolite::logger::VERB => {
            ExitCode::from(u8::try_from(mesolite::logger::run(rest)).unwrap_or(1))
        }
        // A COMMAND health check in a container's namespaces (started by the agent).
        mesolite::apps::health::VERB => {
            ExitCode::from(u8::try_from(mesolite::apps::health::run_verb(rest)).unwrap_or(1))
        }
        "-h" | "--help" | "help" => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        "-V" | "--version" | "version" => {
            println!("mesolite {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        v if mesolite::cli::is_verb(v) => {
            let code = mesolite::cli::run(v, rest);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        other => {
            eprintln!("mesolite: unknown command '{other}'\n\n{}", usage());
            ExitCode::from(2)
        }
    }
}

fn agent(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", mesolite::config::usage());
        return ExitCode::SUCCESS;
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    let flags = match mesolite::config::Flags::load(args, &env) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mesolite agent: {e}\n(mesolite agent --help lists every flag)");
            return ExitCode::from(1);
        }
    };
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Trace)
        .format_target(false)
        .init();
    log::set_max_level(flags.logging_level.to_level_filter());
    match mesolite::agent::run(flags, args, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("mesolite agent: {e}");
            ExitCode::from(1)
        }
    }
}
