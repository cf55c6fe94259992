#include "datagen/internal/names.h"

#include <iterator>
#include <utility>
#include <vector>

namespace harmonia::datagen::internal {

// How a country writes a physician's title. US names take a suffix instead.
enum class TitleStyle { kNone, kPrefix, kUsSuffix };

struct CountryNames {
  std::string_view country;
  std::vector<std::string_view> female;
  std::vector<std::string_view> male;
  std::vector<std::string_view> last;
  std::vector<std::string_view> logins;
  TitleStyle style = TitleStyle::kNone;
  std::string_view title_female;  // kPrefix: e.g. "Dra. "
  std::string_view title_male;
  double title_share = 0;         // physicians with a title
  std::string_view senior_title;  // e.g. "Prof. Dr. ", a few of the titled
  bool double_surname = false;    // ES, BR: often two surnames
  bool family_first = false;      // JP: family name first, no "Last, First"
  bool nicknames = false;         // US, GB: `Robert "Bob" Smith` now and then
};

namespace {

const CountryNames kTables[] = {
    {"DE",
     {"Anna", "Julia", "Katharina", "Sabine", "Claudia", "Petra", "Susanne", "Laura", "Lena",
      "Birgit", "Monika", "Jana"},
     {"Thomas", "Michael", "Andreas", "Stefan", "Markus", "Jörg", "Klaus", "Matthias", "Jürgen",
      "Tobias", "Florian", "Uwe"},
     {"Müller", "Schmidt", "Schneider", "Fischer", "Weber",      "Meyer",    "Wagner",
      "Becker", "Schulz",  "Hoffmann",  "Koch",    "Schäfer",    "Bauer",    "Richter",
      "Klein",  "Wolf",    "Schröder",  "Neumann", "Zimmermann", "von Bülow"},
     {"schmidt", "weber", "fischer", "wagner", "becker", "hoffmann", "koch", "richter", "klein",
      "wolf"},
     TitleStyle::kPrefix,
     "Dr. ",
     "Dr. ",
     0.5,
     "Prof. Dr. "},
    {"FR",
     {"Marie", "Nathalie", "Isabelle", "Sophie", "Camille", "Céline", "Élodie", "Claire", "Hélène",
      "Chloé", "Amélie"},
     {"Jean", "Pierre", "Philippe", "Nicolas", "François", "Laurent", "Stéphane", "Julien",
      "Sébastien", "Olivier", "Thierry", "Jérôme"},
     {"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
      "Moreau", "Simon", "Lefèvre", "Michel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert",
      "d'Aubigné"},
     {"martin", "bernard", "dubois", "moreau", "leroy", "girard", "lambert", "fournier"},
     TitleStyle::kPrefix,
     "Dr ",
     "Dr ",
     0.6,
     ""},
    {"US",
     {"Jennifer", "Linda", "Patricia", "Elizabeth", "Susan", "Jessica", "Sarah", "Karen", "Emily",
      "Ashley", "Mary-Ann"},
     {"James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Christopher",
      "Daniel", "Matthew"},
     {"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
      "Martinez", "Wilson", "Anderson", "Nguyen", "Patel", "Kim", "O'Connor"},
     {"smith", "johnson", "williams", "brown", "jones", "miller", "davis", "wilson"},
     TitleStyle::kUsSuffix,
     "",
     "",
     0.8,
     "",
     false,
     false,
     true},
    {"GB",
     {"Olivia", "Emma", "Charlotte", "Sophie", "Hannah", "Siobhan", "Rebecca", "Victoria", "Fiona",
      "Rachel"},
     {"Oliver", "Harry", "George", "Jack", "Thomas", "James", "William", "Edward", "Alistair",
      "Callum"},
     {"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Roberts",
      "Walker", "Wright", "Hughes", "O'Brien", "Patel", "Khan", "Davies"},
     {"taylor", "evans", "roberts", "walker", "wright", "hughes", "davies"},
     TitleStyle::kPrefix,
     "Dr ",
     "Dr ",
     0.6,
     "Prof ",
     false,
     false,
     true},
    {"JP",
     {"陽菜", "結衣", "美咲", "さくら", "葵", "愛", "真由美", "恵子"},
     {"陽翔", "蓮", "大翔", "健太", "翔太", "拓也", "誠", "浩"},
     {"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田",
      "山田"},
     {"sato", "suzuki", "takahashi", "tanaka", "ito", "watanabe", "yamamoto", "nakamura"},
     TitleStyle::kNone,
     "",
     "",
     0,
     "",
     false,
     true},
    {"ES",
     {"María", "Carmen", "Ana", "Laura", "Lucía", "Elena", "Marta", "Cristina", "Pilar", "Isabel"},
     {"José", "Antonio", "Manuel", "Francisco", "David", "Javier", "Daniel", "Carlos", "Jesús",
      "Miguel"},
     {"García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
      "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz"},
     {"garcia", "rodriguez", "gonzalez", "fernandez", "lopez", "martinez", "sanchez", "perez"},
     TitleStyle::kPrefix,
     "Dra. ",
     "Dr. ",
     0.4,
     "",
     true},
    {"SE",
     {"Anna", "Eva", "Maria", "Karin", "Kristina", "Lena", "Sara", "Åsa", "Ingrid", "Maja", "Elin"},
     {"Lars", "Mikael", "Anders", "Johan", "Erik", "Per", "Karl", "Peter", "Björn", "Magnus",
      "Örjan"},
     {"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
      "Svensson", "Gustafsson", "Lindqvist", "Åberg", "Sjöberg", "Lindström"},
     {"andersson", "johansson", "karlsson", "nilsson", "eriksson", "larsson", "olsson"}},
    {"BR",
     {"Maria", "Ana", "Francisca", "Juliana", "Márcia", "Fernanda", "Adriana", "Patrícia", "Aline",
      "Camila"},
     {"José", "João", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz",
      "Marcos"},
     {"Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
      "Gomes", "Costa", "Ribeiro", "Carvalho", "Araújo"},
     {"silva", "santos", "oliveira", "souza", "ferreira", "alves", "pereira", "lima"},
     TitleStyle::kPrefix,
     "Dra. ",
     "Dr. ",
     0.5,
     "",
     true},
    {"IT",
     {"Giulia", "Francesca", "Chiara", "Sara", "Valentina", "Alessandra", "Federica", "Elena",
      "Paola", "Silvia"},
     {"Giuseppe", "Giovanni", "Antonio", "Mario", "Luigi", "Francesco", "Marco", "Alessandro",
      "Andrea", "Stefano"},
     {"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
      "Greco", "Bruno", "Gallo", "Conti", "De Luca", "D'Angelo"},
     {"rossi", "russo", "ferrari", "esposito", "bianchi", "romano", "colombo", "ricci"},
     TitleStyle::kPrefix,
     "Dott.ssa ",
     "Dott. ",
     0.5,
     "Prof. "},
};

const CountryNames kGeneric = {
    "",
    {"Anna", "Maria", "Sara", "Elena", "Laura", "Nina", "Eva", "Lea"},
    {"Alex", "Daniel", "David", "Martin", "Thomas", "Adam", "Leo", "Marco"},
    {"Novak", "Horvat", "Kowalski", "Jansen", "Peeters", "Nielsen", "Popescu", "Papadopoulos",
     "Costa", "Weber"},
    {"novak", "horvat", "kowalski", "jansen", "peeters", "nielsen"},
    TitleStyle::kPrefix,
    "Dr ",
    "Dr ",
    0.4,
    "",
    false,
    false,
    true};

// US nicknames that go with a first name.
constexpr std::pair<std::string_view, std::string_view> kNicknames[] = {
    {"Robert", "Bob"},     {"William", "Bill"}, {"James", "Jim"},      {"Elizabeth", "Liz"},
    {"Katherine", "Kate"}, {"Michael", "Mike"}, {"Margaret", "Peggy"}, {"Richard", "Rick"}};

std::string_view Pick(const std::vector<std::string_view>& list, Rng& rng) {
  return list[rng.Below(list.size())];
}

}  // namespace

const CountryNames* NamesFor(std::string_view country) {
  for (const CountryNames& t : kTables) {
    if (t.country == country) return &t;
  }
  return &kGeneric;
}

std::string MakeName(const CountryNames& n, int type, Rng& rng) {
  const bool female = rng.Chance(0.5);
  std::string first(Pick(female ? n.female : n.male, rng));
  std::string last(Pick(n.last, rng));
  if (n.double_surname && rng.Chance(0.5)) {
    last.push_back(' ');
    last.append(Pick(n.last, rng));
  }
  const bool physician = type < 2;
  std::string out;
  out.reserve(48);
  if (n.family_first) {
    out.append(last).append(" ").append(first);
    return out;
  }
  // The "Last, First" form some CRM exports use: a comma in the field.
  if (rng.Chance(0.02)) {
    out.append(last).append(", ").append(first);
    return out;
  }
  if (n.nicknames && rng.Chance(0.03)) {
    const auto& [given, nick] = kNicknames[rng.Below(std::size(kNicknames))];
    first = given;
    first.append(" \"").append(nick).append("\"");
  }
  const double r = rng.Uniform();
  if (n.style == TitleStyle::kPrefix && physician && r < n.title_share) {
    if (!n.senior_title.empty() && r < n.title_share * 0.08) {
      out.append(n.senior_title);
    } else {
      out.append(female ? n.title_female : n.title_male);
    }
  }
  out.append(first).append(" ").append(last);
  if (n.style == TitleStyle::kUsSuffix) {
    // "Jane Doe, MD": a comma in most US names.
    if (physician && r < n.title_share) {
      out.append(r < n.title_share * 0.85 ? ", MD" : ", DO");
    } else if (type == 2) {
      out.append(", NP");
    } else if (type == 3 && r < 0.7) {
      out.append(", RN");
    }
  }
  return out;
}

std::string MakeLogin(const CountryNames& n, Rng& rng) {
  std::string out = rng.Chance(0.85) ? "rep." : "mgr.";
  out.append(Pick(n.logins, rng));
  return out;
}

}  // namespace harmonia::datagen::internal
