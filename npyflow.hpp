#pragma once
// npyflow's public API in one header (docs/library.md).
