/** Types of nats-binary.js (plain JavaScript, shared with jest's globalSetup). */
export declare function findNatsServer(env?: NodeJS.ProcessEnv): string | undefined;
export declare const INSTALL_HINT: string;
