import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { forgetPid, rememberPid } from './pid-files';
import { freePorts } from './free-port';
import { findNatsServer, INSTALL_HINT } from './nats-binary';
import { within } from './within';

/**
 * nats-server processes for end-to-end tests: loopback only, free ports,
 * stopped by PID. Every server a spec starts must be stopped by the spec
 * (afterAll); global-teardown.js kills any that a crashed worker left behind.
 */

export interface NatsServerOptions {
  /** Require this token (`--auth`). */
  token?: string;
  /** Require this user and password. */
  user?: string;
  pass?: string;
  /** Serve TLS with this certificate and key (PEM files); `ca` verifies client certificates. */
  tls?: { cert: string; key: string; ca?: string };
  /** Start the HTTP monitoring endpoint on a free loopback port. */
  monitor?: boolean;
  /** Listen on this port (from freePorts) instead of a fresh free one. */
  port?: number;
  /**
   * A nats-server configuration file (`-c`), e.g. users and permissions. The
   * harness's own flags (loopback address, free port) take precedence over it.
   */
  configFile?: string;
  /** Enable JetStream (`-js`) with its store in this directory (a temp dir the test removes). */
  jetstream?: { storeDir: string };
}

export interface NatsServer {
  /** nats://127.0.0.1:<port> (the client upgrades to TLS when the server requires it). */
  readonly url: string;
  readonly port: number;
  /** PID of the current process; changes on restart(). */
  readonly pid: number;
  /** Port of the monitoring endpoint, when it was asked for. */
  readonly monitorPort: number | undefined;
  /** SIGTERM, then SIGKILL after a bound; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server, then starts the same configuration on the same ports. */
  restart(): Promise<void>;
  /** What the server has logged since it last (re)started (the last 64 KiB). */
  logs(): string;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** Every server's URL, comma-separated. */
  readonly urls: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const ROUTES_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 50;
const LOG_LIMIT = 64 * 1024;

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const [freePort, monitorPort] = await freePorts(options.monitor === true ? 2 : 1);
  const port = options.port ?? freePort;
  const args = [...serverArgs(port, options), ...(monitorPort === undefined ? [] : ['-m', String(monitorPort)])];
  const server = new NatsServerProcess(natsServerBinary(), args, port, monitorPort);
  await server.start();
  return server;
}

/**
 * `size` servers joined by routes on loopback; resolves once every server has a route to every other.
 * `options`: the same for every server, or per server (by index), e.g. a different max_payload on each.
 */
export async function startNatsCluster(size = 3, options: NatsServerOptions | ((index: number) => NatsServerOptions) = {}): Promise<NatsCluster> {
  const optionsOf = typeof options === 'function' ? options : () => options;
  const ports = await freePorts(size * 3);
  const clusterPorts = ports.slice(size, size * 2);
  const servers = Array.from({ length: size }, (_, i) => {
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://${HOST}:${p}`);
    const args = [
      ...serverArgs(ports[i]!, optionsOf(i)),
      ...['-n', `flow-e2e-${i}`, '-m', String(ports[size * 2 + i])],
      ...['--cluster_name', 'flow-e2e', '--cluster', `nats://${HOST}:${clusterPorts[i]}`, '--routes', routes.join(',')],
    ];
    return new NatsServerProcess(natsServerBinary(), args, ports[i]!, ports[size * 2 + i]);
  });
  const cluster: NatsCluster = {
    servers,
    urls: servers.map((s) => s.url).join(','),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
  try {
    await Promise.all(servers.map((s) => s.start()));
    await Promise.all(servers.map((s) => waitForRoutes(s, size - 1)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/**
 * Resolves once `routes` of the server's routes carry a subscription on
 * exactly `subject`: from then on, a message published on this server reaches
 * the subscribers on the other servers. Needs monitoring (cluster members have it).
 */
export async function waitForRouteInterest(server: NatsServer, subject: string, routes = 1): Promise<void> {
  await pollMonitor(server, '/routez?subs=1', ROUTES_TIMEOUT_MS, (body) => {
    const list = (body as { routes?: { subscriptions_list?: string[] }[] }).routes ?? [];
    return list.filter((route) => route.subscriptions_list?.includes(subject) === true).length >= routes;
  }, `interest in "${subject}" on ${routes} route(s)`);
}

export function natsServerBinary(): string {
  const binary = findNatsServer();
  if (binary === undefined) throw new Error(INSTALL_HINT);
  return binary;
}

function serverArgs(port: number, options: NatsServerOptions): string[] {
  const args = [...(options.configFile === undefined ? [] : ['-c', options.configFile]), '-a', HOST, '-p', String(port)];
  if (options.token !== undefined) args.push('--auth', options.token);
  if (options.user !== undefined) args.push('--user', options.user, '--pass', options.pass ?? '');
  if (options.jetstream !== undefined) args.push('-js', '-sd', options.jetstream.storeDir);
  if (options.tls !== undefined) {
    args.push('--tls', '--tlscert', options.tls.cert, '--tlskey', options.tls.key);
    if (options.tls.ca !== undefined) args.push('--tlsverify', '--tlscacert', options.tls.ca);
  }
  return args;
}

class NatsServerProcess implements NatsServer {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  constructor(
    private readonly binary: string,
    private readonly args: readonly string[],
    readonly port: number,
    readonly monitorPort: number | undefined,
  ) {
    this.url = `nats://${HOST}:${port}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  logs(): string {
    return this.output;
  }

  /** Spawns the process and resolves once it accepts clients; on failure it is killed and the error carries its log. */
  async start(): Promise<void> {
    const child = spawn(this.binary, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    let ready = false;
    const readyLine = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        this.output = (this.output + chunk.toString('utf8')).slice(-LOG_LIMIT);
        if (!ready && this.output.includes('Server is ready')) {
          ready = true;
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
    });
    this.exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
    const died = this.exited.then(() => {
      throw new Error(`it exited with ${child.exitCode ?? child.signalCode}`);
    });
    // Both settle long after start() when all goes well; nobody is waiting then.
    spawnFailed.catch(() => undefined);
    died.catch(() => undefined);
    if (child.pid !== undefined) rememberPid(child.pid);
    try {
      await within(Promise.race([readyLine, died, spawnFailed]), READY_TIMEOUT_MS, '"Server is ready" in its log');
      await within(readInfoLine(this.port), READY_TIMEOUT_MS, 'INFO from its client port');
    } catch (error) {
      await this.stop();
      throw new Error(
        `nats-server ${this.args.join(' ')} failed to start: ${(error as Error).message}\n--- its log ---\n${this.output}`,
        { cause: error },
      );
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const stopped = await settles(this.exited, STOP_TIMEOUT_MS);
      if (!stopped) {
        child.kill('SIGKILL');
        await within(this.exited, STOP_TIMEOUT_MS, 'exit after SIGKILL').catch(() => undefined);
      }
    }
    if (child.pid !== undefined) forgetPid(child.pid);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/** Connects, reads the server's INFO line, disconnects. */
function readInfoLine(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: HOST, port });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      received += data;
      if (received.includes('\r\n')) {
        socket.destroy();
        if (received.startsWith('INFO ')) resolve();
        else reject(new Error(`unexpected greeting ${JSON.stringify(received.slice(0, 80))}`));
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('connection closed before INFO')));
  });
}

async function waitForRoutes(server: NatsServer, count: number): Promise<void> {
  await pollMonitor(server, '/routez', ROUTES_TIMEOUT_MS, (body) => {
    return ((body as { num_routes?: number }).num_routes ?? 0) >= count;
  }, `${count} routes`);
}

/** Polls a monitoring endpoint until `done` holds; bounded by `timeoutMs`. */
async function pollMonitor(
  server: NatsServer,
  path: string,
  timeoutMs: number,
  done: (body: unknown) => boolean,
  what: string,
): Promise<void> {
  if (server.monitorPort === undefined) throw new Error(`${server.url} has no monitoring port`);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await getJson(server.monitorPort, path).catch((error: unknown) => error);
    if (!(last instanceof Error) && done(last)) return;
    await delay(POLL_INTERVAL_MS);
  }
  throw new Error(`${server.url} did not report ${what} within ${timeoutMs} ms; last answer: ${String(JSON.stringify(last)).slice(0, 500)}`);
}

/** GETs a monitoring endpoint (`/varz`, ...) of a server started with `monitor`. */
export function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = get({ host: HOST, port, path, timeout: 2000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (error) {
          reject(error);
        }
      });
    });
    request.once('timeout', () => request.destroy(new Error(`GET ${path} timed out`)));
    request.once('error', reject);
  });
}

function settles(promise: Promise<void>, timeoutMs: number): Promise<boolean> {
  return within(promise, timeoutMs, 'settle').then(
    () => true,
    () => false,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
