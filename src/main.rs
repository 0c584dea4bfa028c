fn main() -> std::process::ExitCode {
    jit::cli::run()
}
