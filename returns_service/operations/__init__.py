"""The application's operations on returns, one module per job (create, act, documents): what
the API's routes and the pages both call, so that a route or a page only reads its request and
answers."""
