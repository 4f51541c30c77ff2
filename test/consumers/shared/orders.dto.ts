import { IsInt, IsNotEmpty, IsPositive, IsString } from 'class-validator';

export class QuoteRequest {
  @IsString()
  @IsNotEmpty()
  orderId!: string;

  @IsInt()
  @IsPositive()
  quantity!: number;

  @IsString()
  tenant!: string;
}

export interface Quote {
  readonly orderId: string;
  readonly total: number;
  readonly dtoIsInstance: boolean;
  readonly partitionKey: string;
  readonly stampedBy?: string;
}

export interface OrderPlaced {
  readonly orderId: string;
  readonly amount: number;
}
