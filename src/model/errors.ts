// Typed errors thrown anywhere below the API; translated to HTTP status codes once, at the edge
// (src/api). The JSON shape is DRP's: {Model, Key, Type, Messages[], Code}.

export type ErrorType =
  | "BadRequest" // 400: malformed JSON, bad query, wrong content type
  | "Unauthorized" // 401
  | "Forbidden" // 403
  | "NotFound" // 404
  | "MethodNotAllowed" // 405: the resource exists, the method is not how it changes
  | "Conflict" // 409: exists, in use, failed JSON Patch test, read-only object
  | "PayloadTooLarge" // 413
  | "UnsupportedMediaType" // 415
  | "ValidationError" // 422: the object is well-formed JSON but invalid
  | "TooManyRequests" // 429
  | "Unavailable"; // 503

export const STATUS: Record<ErrorType, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  ValidationError: 422,
  TooManyRequests: 429,
  Unavailable: 503,
};

export interface ErrorBody {
  Model: string;
  Key: string;
  Type: ErrorType;
  Messages: string[];
  Code: number;
}

export class SocleError extends Error {
  readonly type: ErrorType;
  readonly model: string;
  readonly key: string;
  readonly messages: string[];

  constructor(type: ErrorType, model: string, key: string, messages: string | string[]) {
    const list = Array.isArray(messages) ? messages : [messages];
    super(list.join("; "));
    this.name = "SocleError";
    this.type = type;
    this.model = model;
    this.key = key;
    this.messages = list;
  }

  get code(): number {
    return STATUS[this.type];
  }

  toJSON(): ErrorBody {
    return { Model: this.model, Key: this.key, Type: this.type, Messages: this.messages, Code: this.code };
  }
}

export const notFound = (model: string, key: string) =>
  new SocleError("NotFound", model, key, `${model} "${key}" not found`);
export const conflict = (model: string, key: string, msg: string | string[]) =>
  new SocleError("Conflict", model, key, msg);
export const invalid = (model: string, key: string, msgs: string | string[]) =>
  new SocleError("ValidationError", model, key, msgs);
export const badRequest = (model: string, key: string, msg: string | string[]) =>
  new SocleError("BadRequest", model, key, msg);
