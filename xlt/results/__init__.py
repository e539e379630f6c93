"""Result records (schema), the results store (local + outbox + Hub) and model publishing."""
