// Plain JavaScript on purpose: it must run, and say what to do, on a Node too old to load the TypeScript sources.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `error: this project needs Node 24 or newer, and this is Node ${process.version}. ` +
      "Run `npm install` (it installs Node 24 into node_modules/.bin), then use `npm start`, `npm test` or `npx sigilum`.\n",
  );
  process.exit(1);
}
