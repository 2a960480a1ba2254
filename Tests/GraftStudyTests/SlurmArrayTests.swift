import Foundation
import GraftCatalog
import GraftData
import GraftOptim
@testable import GraftStudy
import GraftTraining
import Testing
import TestSupport

/// A comparison's grid as cells, and the `sbatch` script that trains one cell per array task.
struct SlurmArrayTests {
    func makePlan(optimizers: [String] = ["adam", "sgd-clr", "rmsprop"], runs: Int = 2) throws -> ComparisonPlan {
        let base = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil,
            data: DataSpecification(source: "data/flowers", imageSize: 32),
            optimizer: try OptimizerConfig(parsing: "sgd"), schedule: .constant(0.01),
            trainable: ["block1", "block2", "block3", "block4", "head"], epochs: 4, batchSize: 8, seed: 3)
        return ComparisonPlan(
            optimizers: try optimizers.map(ComparisonEntry.init(parsing:)), runs: runs, base: base, clrMax: 0.012,
            clrStepEpochs: 1, name: "flowers")
    }

    func makeArray(resources: SlurmArray.Resources) throws -> SlurmArray {
        SlurmArray(
            comparisonId: 7, plan: try makePlan(), resources: resources, workingDirectory: "/shared/study",
            logDirectory: "/shared/study/out/slurm",
            environment: ["GRAFT_CATALOG": "/shared/catalog.sqlite", "GRAFT_CHECKPOINT_ROOT": "/scratch/it's here"],
            taskCommand: [
                "/opt/graft/bin/graft", "compare", "--comparison", "7", "--array-index", SlurmArray.arrayIndex,
                "--clr-max", "0.012",
            ])
    }

    @Test("cells are numbered entry by entry, and each index maps back to its cell")
    func cellIndexMapsToEntryAndRun() throws {
        let plan = try makePlan()
        #expect(plan.cellCount == 6)
        #expect(plan.cells.map(\.index) == Array(0..<6))
        #expect(plan.cells.map(\.entry.description) == ["adam", "adam", "sgd-clr", "sgd-clr", "rmsprop", "rmsprop"])
        #expect(plan.cells.map(\.run) == [0, 1, 0, 1, 0, 1])
        for cell in plan.cells { #expect(try plan.cell(at: cell.index) == cell) }
        let third = try plan.cell(at: 3)
        #expect(third.entry == ComparisonEntry(.sgd, cyclical: true) && third.run == 1)
        #expect(plan.runName(entry: third.entry, run: third.run) == "flowers sgd-clr #2")
        // A run is found by the cell it records, whatever its name.
        var run = RunRecord(name: "renamed", modelId: "vanilla-cnn", optimizer: "sgd", batchSize: 8, epochsPlanned: 4)
        run.comparisonCell = 3
        #expect(plan.cell(of: run) == third)
        run.comparisonCell = 6
        #expect(plan.cell(of: run) == nil)
        // A run recorded before cells were: by its exact name. One entry's name is a prefix of
        // another's; exact names keep them apart.
        let overlapping = try makePlan(optimizers: ["sgd", "sgd-clr"], runs: 1)
        run.comparisonCell = nil
        run.name = "flowers sgd-clr #1"
        #expect(overlapping.cell(of: run)?.entry.description == "sgd-clr")
        run.name = "flowers sgd #1"
        #expect(overlapping.cell(of: run)?.entry.description == "sgd")
        run.name = "flowers sgd #1 (copy)"
        #expect(overlapping.cell(of: run) == nil)
    }

    @Test("an entry reads as on the command line; bad optimizers are named")
    func entriesParse() throws {
        #expect(try ComparisonEntry(parsing: " SGD-clr ") == ComparisonEntry(.sgd, cyclical: true))
        #expect(try ComparisonEntry(parsing: "adamw") == ComparisonEntry(.adamw))
        #expect(throws: GraftOptimError.unknownOptimizer("lion")) { try ComparisonEntry(parsing: "lion-clr") }
        // Learning rates keyed by entry stay a JSON object keyed by the entry's name.
        var plan = try makePlan()
        plan.learningRates[ComparisonEntry(.adam)] = 3e-4
        let json = try CatalogJSON.encode(plan)
        #expect(json.contains(#""learningRates":{"adam":0.0003}"#))
        #expect(json.contains(#""optimizers":["adam","sgd-clr","rmsprop"]"#))
        #expect(try JSONDecoder().decode(ComparisonPlan.self, from: Data(json.utf8)) == plan)
    }

    @Test("an index outside the grid is an error naming it and the valid range", arguments: [6, -1, 100])
    func outOfRangeIndex(index: Int) throws {
        let plan = try makePlan()
        #expect(throws: ComparisonError.cellOutOfRange(index: index, cells: 6, optimizers: 3, runs: 2)) {
            try plan.cell(at: index)
        }
        let message = ComparisonError.cellOutOfRange(index: index, cells: 6, optimizers: 3, runs: 2)
            .localizedDescription
        #expect(message == "cell \(index) is out of range: the grid has 6 cells, 0-5 (3 optimizers × 2 runs)")
    }

    @Test("the script asks for one task per cell, requeue and appended output, and only the resources given")
    func scriptDirectives() throws {
        let script = try makeArray(resources: SlurmArray.Resources(partition: "gpu-short", time: "2:00:00")).script
        let directives = script.split(separator: "\n").filter { $0.hasPrefix("#SBATCH ") }.map {
            String($0.dropFirst("#SBATCH ".count))
        }
        #expect(
            directives == [
                "--job-name=graft-compare-7", "--array=0-5", "--partition=gpu-short", "--time=2:00:00", "--requeue",
                "--open-mode=append", "--chdir=/shared/study",
                "--output=/shared/study/out/slurm/graft-compare-7-%A_%a.out",
            ])
        #expect(script.hasPrefix("#!/bin/bash\n#SBATCH "), "sbatch reads #SBATCH lines only before the first command")

        let all = try makeArray(
            resources: SlurmArray.Resources(partition: "batch", time: "30", cpusPerTask: 4, memory: "8G")
        ).script
        for line in ["#SBATCH --partition=batch", "#SBATCH --time=30", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G"]
        {
            #expect(all.contains(line + "\n"))
        }
        let none = try makeArray(resources: SlurmArray.Resources()).script
        for option in ["--partition", "--time", "--cpus-per-task", "--mem"] {
            #expect(!none.contains("#SBATCH \(option)"))
        }
    }

    @Test("the script exports the catalog's location and runs the task command with Slurm's array index")
    func scriptBody() throws {
        let script = try makeArray(resources: SlurmArray.Resources()).script
        let lines = script.split(separator: "\n").map(String.init)
        #expect(lines.contains("export GRAFT_CATALOG=/shared/catalog.sqlite"))
        #expect(lines.contains("export GRAFT_CHECKPOINT_ROOT='/scratch/it'\\''s here'"))
        #expect(lines.contains("export OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\""))
        #expect(
            lines.last
                == "exec /opt/graft/bin/graft compare --comparison 7 --array-index \"$SLURM_ARRAY_TASK_ID\" --clr-max 0.012"
        )
        #expect(script.contains("Task i trains optimizer entry i / 2 of (adam, sgd-clr, rmsprop), run i % 2."))
    }

    @Test("the script runs in bash: the quoting holds and the task command gets its words back")
    func scriptRunsInBash() throws {
        var array = try makeArray(resources: SlurmArray.Resources())
        array.taskCommand = ["printf", "%s|", "a b", "it's", "$HOME", SlurmArray.arrayIndex]
        let outcome = try ChildProcess.run(
            URL(fileURLWithPath: "/bin/bash"), ["-c", array.script],
            environment: ["SLURM_ARRAY_TASK_ID": "4", "PATH": "/usr/bin:/bin"])
        let text = outcome.stdout
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(text == "a b|it's|$HOME|4|")
    }
}
