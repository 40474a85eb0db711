/** The runner's credentials file, written by `hil-runner register` (mode 0600: it holds the runner token). */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";

export const Credentials = z.object({ url: z.string().url(), runnerId: z.string(), name: z.string(), token: z.string() });
export type Credentials = z.infer<typeof Credentials>;

export async function readCredentials(path: string): Promise<Credentials> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new Error(
      `no runner credentials at ${path}; register first: hil-runner register --url <api> --token <registration token> --config <lab.yaml>`,
    );
  }
  const parsed = Credentials.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`runner credentials at ${path} are malformed; register again`);
  return parsed.data;
}

export async function writeCredentials(path: string, credentials: Credentials): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
}
