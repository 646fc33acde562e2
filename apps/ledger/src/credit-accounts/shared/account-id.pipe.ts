import { Injectable, type PipeTransform } from '@nestjs/common';
import { ACCOUNT_ID_PATTERN } from '#domain';
import { validationProblem } from '../../problems/problem.js';

@Injectable()
export class AccountIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !ACCOUNT_ID_PATTERN.test(value)) {
      throw validationProblem([
        { field: 'accountId', message: 'must be 1-128 characters: letters, digits and _ . : @ -, starting with a letter or digit' },
      ]);
    }
    return value;
  }
}
