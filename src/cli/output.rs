//! What the commands print goes through `out!` / `outln!` (instead of `print!` / `println!`, which panic on a
//! closed pipe): a closed stdout (`wasp analyze F | head -1`) becomes the `StdoutClosed` error, which `main`
//! ends on quietly with success. Other write errors are reported. A distinct type, so that a broken pipe of a
//! socket (a JVM's attach socket, the control socket) is still reported as the error it is.

use std::io::Write;

/// The reader of our stdout went away.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes to stdout; a closed pipe is `StdoutClosed`.
pub(crate) fn write_out(args: std::fmt::Arguments) -> anyhow::Result<()> {
    write_to(&mut std::io::stdout().lock(), args)
}

fn write_to(w: &mut impl Write, args: std::fmt::Arguments) -> anyhow::Result<()> {
    classify(w.write_fmt(args).and_then(|()| w.flush()))
}

fn classify(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// Whether an error means only that stdout was closed.
pub(crate) fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// `print!` that returns `StdoutClosed` (with `?`) instead of panicking on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))?
    };
}

/// `println!` that returns `StdoutClosed` (with `?`) instead of panicking on a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))?
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_its_own_error_and_other_errors_are_not() {
        let e = write_to(&mut Closed, format_args!("x")).unwrap_err();
        assert!(is_stdout_closed(&e));
        let other = classify(Err(std::io::ErrorKind::PermissionDenied.into())).unwrap_err();
        assert!(!is_stdout_closed(&other));
        // A socket's broken pipe (attach, control) is not a closed stdout.
        let sock = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(!is_stdout_closed(&sock));
    }
}
