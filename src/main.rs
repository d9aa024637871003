fn main() -> std::process::ExitCode {
    wasp::cli::main()
}
