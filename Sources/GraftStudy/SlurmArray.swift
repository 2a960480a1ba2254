import Foundation

/// The `sbatch` script that trains a comparison's grid as a Slurm job array: one array task per
/// cell, task `i` training cell `i` (`ComparisonPlan.cell(at:)`). The comparison is begun before
/// the script is written (its record made, the cyclical bound resolved), so tasks only train.
///
/// A task killed by preemption or a node failure is requeued (`--requeue`) and, started again,
/// continues its cell's run from the latest checkpoint (`ComparisonRunner.train(_:of:)`); its
/// output file is appended to (`--open-mode=append`), so both attempts' logs are kept.
///
/// The command a task runs comes from the caller (the command line), so this type knows Slurm's
/// syntax but not Graft's.
public struct SlurmArray: Sendable, Equatable {
    /// What each task asks of the cluster. A request left nil gets no `#SBATCH` line, so the
    /// cluster's default applies.
    public struct Resources: Sendable, Equatable {
        public var partition: String?
        /// A Slurm time limit, e.g. `30`, `2:00:00`, `1-12`.
        public var time: String?
        public var cpusPerTask: Int?
        /// A Slurm memory size per node, e.g. `4G`.
        public var memory: String?

        public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int? = nil, memory: String? = nil) {
            self.partition = partition
            self.time = time
            self.cpusPerTask = cpusPerTask
            self.memory = memory
        }
    }

    /// In `taskCommand`, the place of the task's array index: the script passes Slurm's.
    public static let arrayIndex = "$SLURM_ARRAY_TASK_ID"

    public var comparisonId: Int64
    /// The plan as resolved at submission.
    public var plan: ComparisonPlan
    public var resources: Resources
    /// Where tasks run: relative paths in the plan (its data) resolve against it.
    public var workingDirectory: String
    /// Where each task's output goes, `<jobName>-<job>_<task>.out`.
    public var logDirectory: String
    /// Exported before the task runs: where the catalog and checkpoints are, whatever the
    /// environment of the node.
    public var environment: [String: String]
    /// The command each task runs, its array index written as `SlurmArray.arrayIndex`.
    public var taskCommand: [String]

    public init(
        comparisonId: Int64, plan: ComparisonPlan, resources: Resources, workingDirectory: String,
        logDirectory: String, environment: [String: String], taskCommand: [String]
    ) {
        self.comparisonId = comparisonId
        self.plan = plan
        self.resources = resources
        self.workingDirectory = workingDirectory
        self.logDirectory = logDirectory
        self.environment = environment
        self.taskCommand = taskCommand
    }

    public var jobName: String { "graft-compare-\(comparisonId)" }

    /// The array's task ids, one per cell.
    public var arrayRange: String { "0-\(plan.cellCount - 1)" }

    /// Each task's output file (`%A` the array's job id, `%a` the task's index).
    var outputPattern: String {
        URL(fileURLWithPath: logDirectory).appendingPathComponent("\(jobName)-%A_%a.out").path
    }

    public var script: String {
        var directives = ["--job-name=\(jobName)", "--array=\(arrayRange)"]
        if let partition = resources.partition { directives.append("--partition=\(partition)") }
        if let time = resources.time { directives.append("--time=\(time)") }
        if let cpus = resources.cpusPerTask { directives.append("--cpus-per-task=\(cpus)") }
        if let memory = resources.memory { directives.append("--mem=\(memory)") }
        directives += [
            "--requeue", "--open-mode=append", "--chdir=\(Self.directiveValue(workingDirectory))",
            "--output=\(Self.directiveValue(outputPattern))",
        ]
        let entries = plan.optimizers.map(\.description).joined(separator: ", ")
        var lines = ["#!/bin/bash"] + directives.map { "#SBATCH \($0)" }
        lines += [
            "",
            "# Comparison \(comparisonId), '\(plan.name)': \(plan.optimizers.count) optimizers × \(plan.runs) runs,",
            "# one task per run. Task i trains optimizer entry i / \(plan.runs) of (\(entries)), run i % \(plan.runs).",
            "# A requeued task continues its run from the run's latest checkpoint.",
            "set -eu",
        ]
        lines += environment.keys.sorted().map { "export \($0)=\(Self.shellQuoted(environment[$0]!))" }
        // Without cgroups a task sees every core of its node: keep the kernels to its share.
        lines.append("export OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"")
        lines.append("exec " + taskCommand.map(Self.shellQuoted).joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// A path in an `#SBATCH` line: sbatch splits those at spaces unless quoted.
    static func directiveValue(_ path: String) -> String {
        path.contains(where: \.isWhitespace) ? "\"\(path)\"" : path
    }

    /// `word` as one shell word: as it is when it is plain, the array index in double quotes,
    /// anything else in single quotes.
    static func shellQuoted(_ word: String) -> String {
        if word == arrayIndex { return "\"\(arrayIndex)\"" }
        let plain = CharacterSet(
            charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%")
        if !word.isEmpty, word.unicodeScalars.allSatisfy(plain.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
