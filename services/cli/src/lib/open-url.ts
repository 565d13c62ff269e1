import { spawn } from "node:child_process";

/** The command that opens a URL in the user's browser: $BROWSER, else the platform's opener. */
function opener(env: NodeJS.ProcessEnv): { command: string; args: string[] } {
  const browser = env.BROWSER?.trim();
  if (browser) return { command: browser, args: [] };
  if (process.platform === "darwin") return { command: "open", args: [] };
  if (process.platform === "win32") return { command: "cmd", args: ["/c", "start", ""] };
  return { command: "xdg-open", args: [] };
}

/** Opens the URL in a browser without waiting for it; false when no opener could be started. */
export function openUrl(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { command, args } = opener(env);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, [...args, url], { detached: true, stdio: "ignore", env });
      child.once("error", () => resolve(false));
      child.once("spawn", () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}
