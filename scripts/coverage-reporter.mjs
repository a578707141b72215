// A node:test reporter that writes one JSON line: the line and branch coverage of the core
// (build/src/core/**/*.js), summed over its files, from the run's test:coverage event.
// scripts/run-tests.mjs passes it with --experimental-test-coverage and checks the figures.
export default async function* coreCoverage(source) {
  for await (const ev of source) {
    if (ev.type !== "test:coverage") continue;
    const t = { files: 0, lines: 0, coveredLines: 0, branches: 0, coveredBranches: 0 };
    for (const f of ev.data.summary.files) {
      if (!/[\\/]build[\\/]src[\\/]core[\\/].*\.js$/.test(f.path)) continue;
      t.files++;
      t.lines += f.totalLineCount;
      t.coveredLines += f.coveredLineCount;
      t.branches += f.totalBranchCount;
      t.coveredBranches += f.coveredBranchCount;
    }
    yield JSON.stringify(t) + "\n";
  }
}
