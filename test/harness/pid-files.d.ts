/** Types of pid-files.js (plain JavaScript, shared with jest's globalSetup and globalTeardown). */
export declare function createPidDir(): string;
export declare function rememberPid(pid: number): void;
export declare function forgetPid(pid: number): void;
export declare function killRemembered(): number[];
