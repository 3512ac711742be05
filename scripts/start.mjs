// npm start: a real VS Code (code-server, installed from npm) in the browser with this extension loaded.
// Open the printed URL in a browser; Ctrl+C stops it. Options: --port N, a folder to open (default: the repo).
import { resolve } from 'node:path';
import { codeServerProblem, REPO } from './lib/codeServer.mjs';
import { launchCodeServer } from './lib/launch.mjs';

const argv = process.argv.slice(2);
const portIdx = argv.indexOf('--port');
const port = portIdx >= 0 ? Number(argv[portIdx + 1]) : Number(process.env.PORT ?? 8080);
const folder = resolve(argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--port') ?? REPO);

const problem = codeServerProblem();
if (problem) {
  console.error(`npm start: ${problem}`);
  process.exit(1);
}
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`npm start: --port must be 1…65535, got ${argv[portIdx + 1]}`);
  process.exit(1);
}
const cs = await launchCodeServer({ port, workspace: folder, dataDir: resolve(REPO, '.cs-data'), onLog: (s) => process.stdout.write(s) }).catch((e) => {
  console.error(`npm start: ${e.message}`);
  process.exit(1);
});
console.log(`\nMoE Layout Inspector is running in VS Code at ${cs.url}?folder=${encodeURIComponent(folder)}`);
console.log('Open it in a browser (over SSH: ssh -L ' + `${cs.port}:127.0.0.1:${cs.port} <host>` + '), then F1 → "MoE: Inspect MoE Layer". Ctrl+C stops.');
const quit = () => void cs.stop().then(() => process.exit(0));
process.on('SIGINT', quit);
process.on('SIGTERM', quit);
