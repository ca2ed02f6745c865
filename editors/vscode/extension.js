// Starts `lrx lsp` (the setting `lrx.server.path`, default `lrx` on PATH) for .lrx files.
// Highlighting works without it: it comes from syntaxes/lrx.tmLanguage.json.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("lrx").get("server.path", "lrx");
  if (!command) {
    return;
  }
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "lrx",
    "lrx language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "lrx" }, { scheme: "untitled", language: "lrx" }] }
  );
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
