// Per-country name lists for synthetic customers and field-team logins.
//
// Small, hand-picked lists for the markets Harmonia ships country files for
// (DE, FR, US, JP, ES, SE, BR, GB, IT) and a generic fallback. Some generated
// names hold a comma ("Smith, John", "Jane Doe, MD") or quotes (a nickname),
// so files written from them exercise CSV quoting.
//
// Thread-safety: the tables are constant; the functions are reentrant.
#ifndef HARMONIA_DATAGEN_INTERNAL_NAMES_H_
#define HARMONIA_DATAGEN_INTERNAL_NAMES_H_

#include <string>
#include <string_view>

#include "datagen/internal/random.h"

namespace harmonia::datagen::internal {

struct CountryNames;

// The name lists of a country (ISO alpha-2); the generic lists when unknown.
// Never null.
const CountryNames* NamesFor(std::string_view country);

// Customer types the generator draws, in order; the first two are physicians.
inline constexpr std::string_view kCustomerTypes[] = {"specialist", "pcp", "nurse_practitioner",
                                                      "nurse"};

// A display name for a customer of type kCustomerTypes[type]: titles and
// suffixes as the country writes them, now and then a nickname or the
// "Last, First" form a CRM export produces.
std::string MakeName(const CountryNames& names, int type, Rng& rng);

// A field-team login such as "rep.schmidt" or "mgr.weber" (ASCII).
std::string MakeLogin(const CountryNames& names, Rng& rng);

}  // namespace harmonia::datagen::internal

#endif  // HARMONIA_DATAGEN_INTERNAL_NAMES_H_
