/**
 * Test support: a minimal Nest HTTP adapter over node:http (no Express in
 * this repository), enough for GET and POST routes without path parameters
 * and JSON replies. Specs use it to send real HTTP requests with fetch().
 */
import { RequestMethod } from '@nestjs/common';
import { AbstractHttpAdapter } from '@nestjs/core';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse, next: () => void) => unknown;

class Routes {
  readonly byKey = new Map<string, Handler>();
  get(path: string, handler: Handler): void {
    this.byKey.set(`GET ${normalise(path)}`, handler);
  }
  post(path: string, handler: Handler): void {
    this.byKey.set(`POST ${normalise(path)}`, handler);
  }
}

function normalise(path: string): string {
  return `/${path.replace(/^\/+|\/+$/g, '')}`;
}

export class NodeHttpAdapter extends AbstractHttpAdapter<Server, IncomingMessage, ServerResponse> {
  readonly #routes = new Routes();

  constructor() {
    super();
    this.setInstance(this.#routes);
  }

  initHttpServer(): void {
    this.httpServer = createServer((req, res) => {
      const handler = this.#routes.byKey.get(`${req.method} ${normalise((req.url ?? '/').split('?')[0])}`);
      if (handler === undefined) {
        this.reply(res, { statusCode: 404, message: 'Not Found' }, 404);
        return;
      }
      void handler(req, res, () => undefined);
    });
  }

  override listen(port: number, ...args: unknown[]): void {
    const callback = args.find((arg): arg is () => void => typeof arg === 'function');
    this.httpServer.listen(port, '127.0.0.1', callback);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.httpServer.listening ? this.httpServer.close(() => resolve()) : resolve()));
  }

  reply(res: ServerResponse, body: unknown, statusCode?: number): void {
    if (statusCode !== undefined) res.statusCode = statusCode;
    if (body === undefined || body === null) {
      res.end();
      return;
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    if (typeof body !== 'string') res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(text);
  }
  status(res: ServerResponse, statusCode: number): void {
    res.statusCode = statusCode;
  }
  end(res: ServerResponse, message?: string): void {
    res.end(message);
  }
  isHeadersSent(res: ServerResponse): boolean {
    return res.headersSent;
  }
  getHeader(res: ServerResponse, name: string): unknown {
    return res.getHeader(name);
  }
  setHeader(res: ServerResponse, name: string, value: string): void {
    res.setHeader(name, value);
  }
  appendHeader(res: ServerResponse, name: string, value: string): void {
    res.appendHeader(name, value);
  }
  getRequestHostname(req: IncomingMessage): string {
    return req.headers.host ?? '';
  }
  getRequestMethod(req: IncomingMessage): string {
    return req.method ?? 'GET';
  }
  getRequestUrl(req: IncomingMessage): string {
    return req.url ?? '/';
  }
  getType(): string {
    return 'node-http';
  }
  registerParserMiddleware(): void {}
  enableCors(): void {}
  useStaticAssets(): void {}
  setViewEngine(): void {}
  render(): void {}
  redirect(res: ServerResponse, statusCode: number, url: string): void {
    res.statusCode = statusCode;
    res.setHeader('location', url);
    res.end();
  }
  setErrorHandler(): void {}
  setNotFoundHandler(): void {}
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  createMiddlewareFactory(_method: RequestMethod): (path: string, callback: Function) => void {
    return () => undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  applyVersionFilter(handler: Function): (req: IncomingMessage, res: ServerResponse, next: () => void) => Function {
    return handler as (req: IncomingMessage, res: ServerResponse, next: () => void) => Function;
  }
}
