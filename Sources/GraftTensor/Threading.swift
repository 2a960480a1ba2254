#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenMP wait policy for executables built on Graft.
///
/// oneDNN's OpenMP threads spin between parallel regions by default. On a machine whose cores
/// are shared with other work, a spinning thread and a descheduled one make every layer wait for
/// a time slice: a batch-1 ResNet34 forward took 1.24 s instead of 0.05 s with the load average
/// at 5 on 2 cores. With `OMP_WAIT_POLICY=passive` idle threads sleep instead. The runtime reads
/// the variable when it loads, before `main`, so an executable sets it by re-executing itself.
public enum Threading {
    /// Re-executes the current process with `OMP_WAIT_POLICY=passive` unless the variable is
    /// already set (so a user's choice wins). Call first thing in `main`; returns normally when
    /// nothing needs to change or re-execution is not possible.
    public static func preferPassiveOpenMPWaiting() {
        #if os(Linux)
        guard getenv("OMP_WAIT_POLICY") == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv only returns on failure: carry on with the default policy.
        #elseif canImport(Darwin)
        // No /proc: the executable as it was started (a path, or a name found on the PATH).
        guard getenv("OMP_WAIT_POLICY") == nil, let executable = CommandLine.unsafeArgv[0] else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        execvp(executable, CommandLine.unsafeArgv)
        #endif
    }
}
